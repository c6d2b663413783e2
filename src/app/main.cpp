// hep-mlbench: the MLPF (gnn_lsh) training benchmark. main() parses the command line, sets up
// logging, and runs the chosen subcommand; the exit status is its verdict.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "app/commands.hpp"
#include "sys/versions.hpp"
#include "util/build_info.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/process.hpp"

namespace {
std::string help_for(const std::string& command) {
  return "hep-mlbench " + (command.empty() ? "" : command + " ") + "--help";
}

// CLI11 says "The following arguments were not expected: 3 --bogus" (in reverse order): say which
// option is unknown, in the order given, and where the options are listed.
std::string unexpected_arguments(const std::vector<std::string>& rest, const std::string& command) {
  std::string options, values;
  for (const auto& a : rest) {
    std::string& list = !a.empty() && a[0] == '-' ? options : values;
    list += (list.empty() ? "" : " ") + a;
  }
  const std::string help = help_for(command);
  if (options.empty()) return "unexpected argument(s) " + values + " (" + help + " says what is taken)";
  return "unknown option(s) " + options + (values.empty() ? "" : " (given with " + values + ")") + ": " + help +
         " lists the options";
}

// The other errors of reading a command line, in hep-mlbench's words: CLI11's "--epochs: 1
// required TEXT missing" becomes "option --epochs needs a value", and each says where the
// options are listed.
std::string parse_error_text(const CLI::ParseError& e, const std::string& command) {
  const std::string what = e.what(), help = help_for(command);
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr) {
    // The option is the first word that starts with '-' ("--epochs:", "... arguments to --x, got 0").
    std::string option;
    std::istringstream words(what);
    for (std::string w; words >> w;)
      if (w.size() > 1 && w[0] == '-') {
        option = w.substr(0, w.find_first_of(":,"));
        break;
      }
    if (!option.empty() && what.find("missing") != std::string::npos)
      return "option " + option + " needs a value: " + help + " lists the options";
    if (!option.empty() && what.find("At Most 1 required") != std::string::npos)
      return "option " + option + " is given more than once, and takes one value: give it once (" + help +
             " lists the options)";
    if (!option.empty()) return "option " + option + ": " + what + " (" + help + " lists the options)";
  }
  if (dynamic_cast<const CLI::ValidationError*>(&e) != nullptr && !what.empty() && what[0] == '-')
    return "option " + what + " (" + help + " lists the options)";  // "--epochs: needs a value: ..."
  if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr)
    return what + ": " + help + " says what it takes";
  return what + " (" + help + " lists the options)";
}
}  // namespace

int main(int argc, char** argv) {
  // A write past the file-size limit (ulimit -f) or into a closed pipe is an error that the
  // code reports (naming the file, the limit, stdout), not a signal that kills the process and
  // leaves half-written files behind.
  std::signal(SIGXFSZ, SIG_IGN);
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"hep-mlbench " + hmb::version() +
               ": trains the MLPF gnn_lsh particle-flow network and measures how fast and how "
               "well this machine does it."};
  app.set_version_flag("--version", [] { return hmb::sys::version_text(); },
                       "Print the version of hep-mlbench and of every library, then exit");
  bool quiet = false, debug = false;
  app.add_flag("-q,--quiet", quiet, "Only warnings and errors on the console");
  app.add_flag("-d,--debug", debug, "Debug output");
  app.require_subcommand(1);
  app.fallthrough();  // -q and -d also work after the subcommand
  app.footer("Converting the public Delphes pickles to an event file: scripts/convert_pickles.py --input "
             "'tev14_*.pkl.bz2' --output FILE.h5");

  const std::vector<hmb::app::Command> commands = {
      hmb::app::add_generate_command(app),
      hmb::app::add_info_command(app),
      hmb::app::add_selftest_command(app),
      hmb::app::add_train_command(app),
      hmb::app::add_sweep_command(app),
      hmb::app::add_compare_command(app),
      hmb::app::add_bench_command(app),
      hmb::app::add_workload_command(app),
  };

  hmb::app::raw_arguments().assign(argv + 1, argv + argc);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const bool any_command = std::any_of(commands.begin(), commands.end(), [](const auto& c) { return c.sub->parsed(); });
    std::string command;
    for (const auto& c : commands)
      if (c.sub->parsed()) command = c.sub->get_name();
    // A first word that is not a command and not an option: named, even with --help (which
    // would otherwise print the general help and exit 0 as if the command existed).
    // The first word after the program's own flags (-q, -d) is where the command should be.
    std::string first_word;
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "-q" || a == "--quiet" || a == "-d" || a == "--debug") continue;
      first_word = a;
      break;
    }
    const bool not_a_command = !any_command && !first_word.empty() && first_word[0] != '-';
    std::string why = e.what();
    int code = 0;
    if (not_a_command) {
      std::string names;
      for (const auto& c : commands) names += (names.empty() ? "" : ", ") + c.sub->get_name();
      why = "'" + first_word + "' is not a command; the commands are " + names + " (hep-mlbench --help)" +
            (first_word == "convert" ? ". Pickles are converted by scripts/convert_pickles.py" : "");
      std::fprintf(stderr, "hep-mlbench: %s\n", why.c_str());
      code = static_cast<int>(CLI::ExitCodes::ExtrasError);
    } else if (e.get_exit_code() == 0) {
      code = app.exit(e);  // --help, --version: printed, exit 0
    } else if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr && !app.remaining(true).empty()) {
      why = unexpected_arguments(app.remaining(true), command);
      std::fprintf(stderr, "%s\n", why.c_str());
      code = e.get_exit_code();
    } else {
      why = parse_error_text(e, command);
      std::fprintf(stderr, "%s\n", why.c_str());
      code = e.get_exit_code();
    }
    if (code != 0) {
      // A run that HEPscore (or a user) started with a command line that cannot be read
      // still leaves a report that says why it failed.
      hmb::setup_logging(hmb::LogMode::normal);
      for (const auto& c : commands)
        if (c.sub->parsed() && c.on_parse_error) c.on_parse_error(why);
    }
    return code;
  }

  hmb::setup_logging(quiet ? hmb::LogMode::quiet : debug ? hmb::LogMode::debug : hmb::LogMode::normal);
  try {
    for (const auto& c : commands)
      if (c.sub->parsed()) return c.run();
  } catch (const hmb::Interrupted& e) {
    spdlog::warn("{}", e.what());
    return 128 + std::max(1, hmb::stop_requested());
  } catch (const hmb::Error& e) {
    spdlog::error("{}", e.what());
    return 1;
  } catch (const std::exception& e) {
    spdlog::error("unexpected failure: {}", e.what());
    return 2;
  }
  return 1;
}
