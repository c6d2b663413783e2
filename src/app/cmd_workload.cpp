// `hep-mlbench workload`: the hep-workloads command line (what HEPscore and the container
// entrypoint call). hep-workloads flags plus every training option as `--key value`.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <optional>

#include "app/commands.hpp"
#include "app/workload.hpp"
#include "config/run_config.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace hmb::app {

namespace {
// Where the container keeps its bundled sample; HMB_DATA overrides it.
constexpr const char* kBundledSample = "/opt/hep-mlbench/data/sample.h5";

// The sample the copies train on when --data is not given.
std::string default_sample() {
  const char* env = std::getenv("HMB_DATA");
  return env != nullptr ? env : kBundledSample;
}

// The workload's own keys in a --config file (every flag is also a YAML key): each is taken
// into `opt` where the command line did not give it, checked as the flag is. Returns the file's
// other keys, the training options, for the copies.
YAML::Node take_workload_keys(const CLI::App& sub, WorkloadOptions& opt, const std::string& file) {
  const YAML::Node y = config::load_config_file(file);
  if (!y.IsMap()) return y;  // the training options' reader says what is wrong with it
  const std::string what = "configuration file '" + file + "'";
  auto given = [&sub](const char* flag) { return sub.get_option(flag)->count() > 0; };
  auto text = [&](const std::string& key) {
    require(y[key].IsScalar(), what + ": option '" + key + "' must be a single value");
    return y[key].as<std::string>();
  };
  auto whole = [&](const std::string& key, std::uint64_t lo, std::uint64_t hi) {
    const std::string t = text(key);
    if (auto problem = whole_number_problem(t, lo, hi)) throw Error(what + ": option '" + key + "': " + *problem);
    return config::parse_value<std::uint64_t>(key, t);
  };
  constexpr auto kInt = static_cast<std::uint64_t>(std::numeric_limits<int>::max());
  constexpr auto kLong = static_cast<std::uint64_t>(std::numeric_limits<long>::max());
  YAML::Node rest(YAML::NodeType::Map);
  for (const auto& kv : y) {
    const auto key = kv.first.as<std::string>();
    if (key == "copies") {
      if (!given("--copies")) opt.copies = static_cast<int>(whole(key, 1, kInt));
    } else if (key == "threads") {
      if (!given("--threads")) opt.threads = static_cast<int>(whole(key, 0, kInt));
    } else if (key == "events") {
      if (!given("--events")) opt.events = static_cast<long>(whole(key, 0, kLong));
    } else if (key == "ncores") {
      if (!given("--ncores")) opt.ncores = static_cast<int>(whole(key, 0, kInt));
    } else if (key == "resultsdir") {
      if (!given("--resultsdir")) opt.resultsdir = text(key);
    } else if (key == "mop") {
      const std::string m = text(key);
      require(m == "none" || m == "all", what + ": option 'mop': '" + m + "' is not none or all");
      if (!given("--mop")) opt.mop = m;
    } else if (key == "debug") {
      const std::string t = text(key);
      try {
        if (!given("--debug")) opt.debug = config::parse_value<bool>("debug", t);
      } catch (const Error& e) {
        throw Error(what + ": " + e.what());
      }
    } else {
      rest[key] = kv.second;
    }
  }
  return rest;
}

std::string self_exe() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("hep-mlbench") : p.string();
}
}  // namespace

Command add_workload_command(CLI::App& app) {
  auto opt = std::make_shared<WorkloadOptions>();
  auto table = std::make_shared<config::OptionTable<config::RunConfig>>(config::run_options());
  auto* sub = app.add_subcommand(
      "workload",
      "HEPscore / hep-workloads entrypoint: runs the benchmark copies and writes hep-mlbench_summary.json");
  sub->add_option("-c,--copies", opt->copies, "training processes run at once")->capture_default_str()->check(whole_number_from(1));
  sub->add_option("-t,--threads", opt->threads, "CPU threads per copy (0: the cores given by --ncores, else the cores this process may run on, divided by the copies)")->capture_default_str()->check(whole_number_from(0));
  sub->add_option("-e,--events", opt->events, "training events per thread per epoch (0: the whole sample)")->capture_default_str()->check(whole_number_from<long>(0));
  sub->add_option("-w,--resultsdir", opt->resultsdir, "results folder")->capture_default_str();
  sub->add_flag("-W", opt->write_in_place, "write the summary straight into the results folder (HEPscore does)");
  sub->add_flag("-d,--debug", opt->debug, "debug output");
  sub->add_option("-m,--mop", opt->mop, "what to remove of per-copy files afterwards: none | all (keeps logs and summaries)")
      ->capture_default_str()->check(CLI::IsMember({"none", "all"}));
  sub->add_option("--ncores", opt->ncores, "cores given to the workload (0: all)")->capture_default_str()->check(whole_number_from(0));
  config::RunConfig shown;  // the defaults --help prints: the copies' sample is the bundled one
  shown.data = default_sample();
  table->attach_except(*sub, shown, {"threads", "results", "batch-sizes"});
  last_value_wins(*sub);
  Command cmd{sub, [sub, opt, table] {
            // A --config file's workload keys (copies, threads, events, ncores, resultsdir, mop,
            // debug) are the workload's; its training keys go to the copies as options, so that a
            // copy never reads a key that is not train's.
            std::optional<YAML::Node> training_keys;
            try {
              if (!table->config_path().empty()) training_keys = take_workload_keys(*sub, *opt, table->config_path());
            } catch (const Error& e) {
              return fail_workload(*opt, e.what());
            }
            if (opt->debug) setup_logging(LogMode::debug);  // `workload -d`: this process too, not only the copies
            // Check every training option here, so a bad value fails before anything starts.
            config::RunConfig probe;
            try {
              if (training_keys) {
                table->apply_yaml(probe, *training_keys, "configuration file '" + table->config_path() + "'");
                table->apply(probe, YAML::Node());  // then the command line's, over the file's
              } else {
                table->apply(probe);
              }
            } catch (const Error& e) {
              return fail_workload(*opt, e.what());
            }
            opt->train_args.clear();
            if (training_keys)
              for (const auto& kv : *training_keys) {
                const auto key = kv.first.as<std::string>();
                if (!table->was_given(key)) opt->train_args.insert(opt->train_args.end(), {"--" + key, kv.second.as<std::string>()});
              }
            for (const auto& arg : table->given_args()) opt->train_args.push_back(arg);
            if (training_keys) {  // the file itself is not passed on: its keys are, above
              const auto at = std::find(opt->train_args.begin(), opt->train_args.end(), "--config");
              if (at != opt->train_args.end()) opt->train_args.erase(at, at + 2);
            }
            if (!table->was_given("data") && probe.data.empty()) {
              const std::string sample = default_sample();
              std::error_code ec;
              if (!std::filesystem::exists(sample, ec))
                return fail_workload(*opt, "event file '" + sample + "' (" +
                                               (std::getenv("HMB_DATA") != nullptr ? "from HMB_DATA"
                                                                                   : "the image's bundled sample") +
                                               ") does not exist: give an event file with --data FILE.h5 or the "
                                               "environment variable HMB_DATA (make one with hep-mlbench generate or "
                                               "scripts/make_sample.sh)");
              opt->train_args.insert(opt->train_args.end(), {"--data", sample});
            }
            return run_workload(*opt, self_exe());
          }};
  // A command line that cannot be read still leaves a summary that says why, in the results
  // folder given (-w, if it came before the error; else the default). CLI11 may have stopped
  // before it stored the values, so the run_info figures are read from what it collected.
  cmd.on_parse_error = [sub, opt](const std::string& why) {
    auto count = [&](const char* name, int fallback) {
      try {
        const int v = config::parse_value<int>(name, last_collected(*sub, name));
        return v >= 0 ? v : fallback;
      } catch (const Error&) {
        return fallback;  // not given, or not a number CLI11 would have taken
      }
    };
    WorkloadOptions o = *opt;
    // A value that starts with '-' is an option CLI11 took as the folder (`-w --epochs 3`).
    if (const auto dir = last_collected(*sub, "-w"); !dir.empty() && dir[0] != '-') {
      o.resultsdir = dir;
    } else if (const auto raw = raw_value_of({"-w", "--resultsdir"}); !raw.empty() && raw[0] != '-') {
      o.resultsdir = raw;  // taken as another option's value before CLI11 came to it
    }
    // -W as typed: CLI11 may have stopped before it came to the flag.
    const auto& raw = raw_arguments();
    o.write_in_place = o.write_in_place || std::find(raw.begin(), raw.end(), "-W") != raw.end();
    o.copies = std::max(1, count("-c", o.copies));
    o.threads = count("-t", o.threads);
    o.events = count("-e", static_cast<int>(std::min<long>(o.events, std::numeric_limits<int>::max())));
    o.ncores = count("--ncores", o.ncores);
    fail_workload(o, "command line: " + why);
  };
  return cmd;
}

}  // namespace hmb::app
