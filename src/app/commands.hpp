#pragma once
// The subcommands of hep-mlbench. Each lives in its own cmd_<name>.cpp and registers itself
// on the CLI11 app; main() runs the one the user chose. A command returns the exit status.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "config/option_table.hpp"
#include "util/error.hpp"

namespace hmb::app {

struct Command {
  CLI::App* sub = nullptr;     // the parsed subcommand (sub->parsed() tells if it was chosen)
  std::function<int()> run;    // what to run when it was chosen; returns the exit status
  // When this subcommand was chosen but its command line could not be read (an unknown
  // option, a missing value): writes the report of a failed run, for commands that report.
  std::function<void(const std::string& why)> on_parse_error = {};
};

// The last value CLI11 collected for option `name` of `sub`, or "". Unlike the bound variable,
// it is there even when reading the command line stopped with a ParseError before the value
// was stored (what on_parse_error needs).
inline std::string last_collected(const CLI::App& sub, const std::string& name) {
  const CLI::Option* o = sub.get_option_no_throw(name);
  return o != nullptr && !o->results().empty() ? o->results().back() : std::string();
}

// The command line as given (main() stores it before parsing). For where a report goes when the
// command line cannot be read: an option whose value CLI11 never collected (a word before it was
// taken as another option's value) is still found here.
inline std::vector<std::string>& raw_arguments() {
  static std::vector<std::string> args;
  return args;
}

// The last value given to any of `names` in raw_arguments() (`-w DIR`, `--results=DIR`), or "".
inline std::string raw_value_of(const std::vector<std::string>& names) {
  const auto& args = raw_arguments();
  std::string value;
  for (size_t i = 0; i < args.size(); ++i)
    for (const auto& n : names) {
      if (args[i] == n && i + 1 < args.size()) value = args[i + 1];
      if (args[i].rfind(n + "=", 0) == 0) value = args[i].substr(n.size() + 1);
    }
  return value;
}

// What is wrong with `text` as a whole number from `lo` to `hi`, or nothing: "'x' is not a whole
// number of at least 1", "'99999999999' is more than this option takes (at most 2147483647)".
inline std::optional<std::string> whole_number_problem(const std::string& text, std::uint64_t lo, std::uint64_t hi) {
  const bool digits = !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
  if (!digits) return "'" + text + "' is not a whole number of at least " + std::to_string(lo);
  std::uint64_t v = 0;
  try {
    v = config::parse_value<std::uint64_t>("", text);
  } catch (const Error&) {
    v = std::numeric_limits<std::uint64_t>::max();  // past 2^64 - 1
    if (hi == v) return "'" + text + "' is more than this option takes (at most " + std::to_string(hi) + ")";
  }
  if (v < lo) return "'" + text + "' is not a whole number of at least " + std::to_string(lo);
  if (v > hi) return "'" + text + "' is more than this option takes (at most " + std::to_string(hi) + ")";
  return std::nullopt;
}

// An option of type T that takes a whole number of at least `lo`, with a message that says so
// (CLI11's own range check prints the type's largest value, and a value past T's is its
// "Could not convert").
template <class T = int>
CLI::Validator whole_number_from(std::uint64_t lo) {
  static_assert(std::is_integral_v<T>, "a whole number option is of an integer type");
  const auto hi = static_cast<std::uint64_t>(std::numeric_limits<T>::max());
  return CLI::Validator([lo, hi](std::string& text) { return whole_number_problem(text, lo, hi).value_or(""); }, "",
                        "whole number from " + std::to_string(lo));
}

// A single-valued option or flag of `sub` given twice takes its last value, as train's options
// do (a wrapper that appends an option to a user's command line wins); options that collect
// several values keep them all. --config stays once only: two files would not be merged.
inline void last_value_wins(CLI::App& sub) {
  for (CLI::Option* o : sub.get_options())
    if (o->get_items_expected_max() <= 1 && o->get_name() != "--config")
      o->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

// Each adds its subcommand to `app`.
Command add_selftest_command(CLI::App& app);
Command add_compare_command(CLI::App& app);
Command add_workload_command(CLI::App& app);
Command add_generate_command(CLI::App& app);
Command add_info_command(CLI::App& app);
Command add_train_command(CLI::App& app);
Command add_bench_command(CLI::App& app);
Command add_sweep_command(CLI::App& app);

// `bench --what allreduce`: all-reduce bandwidth for the gradients of `preset` (or `mb` MiB).
struct AllreduceBench {
  std::string preset = "delphes";
  double mb = 0;        // > 0: this size instead of the model's gradients
  int iterations = 20;
  int nproc = 1;        // CPU ranks to start here when no launcher started this process
  bool gpus = true;     // NCCL on GPUs when there are any
};
int bench_allreduce(const AllreduceBench& a);

// The model preset that option --preset names: auto resolved as train resolves it (delphes for
// a run on a GPU, small on the CPU); a name that is no preset is an error listing them.
std::string preset_option(const std::string& requested, bool on_gpu);

// Prints a model preset's shapes, parameter count and FLOPs (info --preset; auto is resolved).
void info_preset(const std::string& requested);

}  // namespace hmb::app
