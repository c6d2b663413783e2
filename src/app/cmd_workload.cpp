// `hep-mlbench workload`: the hep-workloads command line (what HEPscore and the container
// entrypoint call). hep-workloads flags plus every training option as `--key value`.
#include <unistd.h>

#include <filesystem>

#include "app/commands.hpp"
#include "app/workload.hpp"
#include "config/run_config.hpp"
#include "util/error.hpp"

namespace hmb::app {

namespace {
// Where the container keeps its bundled sample; HMB_DATA overrides it.
constexpr const char* kBundledSample = "/opt/hep-mlbench/data/sample.h5";

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
  sub->add_option("-c,--copies", opt->copies, "training processes run at once")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("-t,--threads", opt->threads, "CPU threads per copy (0: cores / copies)")->capture_default_str()->check(CLI::NonNegativeNumber);
  sub->add_option("-e,--events", opt->events, "training events per thread per epoch (0: the whole sample)")->capture_default_str()->check(CLI::NonNegativeNumber);
  sub->add_option("-w,--resultsdir", opt->resultsdir, "results folder")->capture_default_str();
  sub->add_flag("-W", opt->write_in_place, "write the summary straight into the results folder (HEPscore does)");
  sub->add_flag("-d,--debug", opt->debug, "debug output");
  sub->add_option("-m,--mop", opt->mop, "what to remove of per-copy files afterwards: none | all (keeps logs and summaries)")
      ->capture_default_str()->check(CLI::IsMember({"none", "all"}));
  sub->add_option("--ncores", opt->ncores, "cores given to the workload (0: all)")->capture_default_str()->check(CLI::NonNegativeNumber);
  table->attach_except(*sub, config::RunConfig{}, {"threads", "results"});
  return {sub, [opt, table] {
            // Check every training option here, so a bad value fails before anything starts.
            config::RunConfig probe;
            try {
              table->apply(probe);
            } catch (const Error& e) {
              return fail_workload(*opt, e.what());
            }
            opt->train_args = table->given_args();
            if (!table->was_given("data")) {
              const char* env = std::getenv("HMB_DATA");
              opt->train_args.insert(opt->train_args.end(), {"--data", env ? env : kBundledSample});
            }
            return run_workload(*opt, self_exe());
          }};
}

}  // namespace hmb::app
