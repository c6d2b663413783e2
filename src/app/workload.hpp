#pragma once
// The hep-workloads entrypoint (`hep-mlbench workload`, the container's ENTRYPOINT): runs
// `copies` training processes, each in <run dir>/proc_<i>/, and merges their reports into one
// hep-mlbench_summary.json as HEPscore expects. docs/hepscore.md says what copies, threads
// and events mean for this workload.
#include <optional>
#include <string>
#include <vector>

#include "report/summary.hpp"

namespace hmb::app {

struct WorkloadOptions {
  int copies = 1;
  int threads = 0;             // per copy; 0: cores / copies
  long events = 0;             // training events per thread per epoch; 0: the whole sample
  std::string resultsdir = "/results";
  bool write_in_place = false;  // -W: summary straight into resultsdir
  bool debug = false;
  std::string mop = "none";    // none | all: what to remove of per-copy files afterwards
  int ncores = 0;              // cores HEPscore gives the workload (0: all)
  std::vector<std::string> train_args;  // --key value pairs passed on to `train`
};

// "docker", "podman", "singularity" or "none", from what the container runtime leaves behind.
std::string detect_containment();

// The run_info block of the workload's summary: copies, threads per copy (0 resolved against
// --ncores or the cores this process may run on), events per thread, the options passed on, containment.
report::RunInfo workload_run_info(const WorkloadOptions& opt);

// A report made before a run had a result to carry the machine's description (a failure in the
// pipeline or before it, a workload whose copies all failed) gets the machine all the same:
// `context.system`, as every other report has it. Never throws.
void add_machine(nlohmann::json& summary);

// When a report cannot be written: logs `why` and that `what` follows on stdout, and writes
// `report` there (that failing is logged too), so that the measurement is not lost. Never throws.
void report_on_stdout(const std::string& why, const nlohmann::json& report, const std::string& what = "the summary");

// The files a copy reads or writes by name, which the workload must not set aside: those named
// on the copies' options `args` (`--data F` or `--data=F`; also --init-weights, --config,
// --trace), and those a --config file among them names. A --config file that cannot be read adds
// nothing here: each copy says why in its report.
std::vector<std::string> copy_input_files(const std::vector<std::string>& args);

// Writes into `dir` the report that stands until a run writes its own
// (report::make_unfinished_summary, with the machine): a run killed outright still leaves a
// report that says it did not finish. Throws Error when it cannot be written.
void write_unfinished_report(const std::string& dir, const report::RunInfo& info);

// A run that failed before it started (a command line that cannot be read, a bad option
// value): logs `why`, writes a summary with log "ERROR" and that reason into `dir`, and
// returns the exit status: 1, or 3 when `dir` cannot take the summary (also logged, naming
// `dir_option`, the option that chose it; the summary then goes to stdout).
int write_failure_report(const std::string& dir, const std::string& why, const report::RunInfo& info,
                         const std::string& dir_option = "-w/--resultsdir");

// Where the workload's summary goes: the results folder itself under -W (as HEPscore runs it),
// else a new folder in it, hep-mlbench-<UTC date-time> (with -2, -3, … when a run started in
// the same second has it), made here so that no other run takes it.
std::string workload_run_dir(const WorkloadOptions& opt);

// write_failure_report() into workload_run_dir(), before any copy started: a failed start leaves
// its report where a run's would be, an earlier run's files there set aside first (-W).
int fail_workload(const WorkloadOptions& opt, const std::string& reason);

// Copies that train on GPUs all use GPU 0 of what they see, so several copies share one GPU
// and skew each other's figures: the warning to give, or nothing. `train_args` are the
// options passed on to the copies (an explicit `--gpus cpu` or `--gpus 0` means no GPU).
std::optional<std::string> gpu_sharing_warning(int copies, const std::vector<std::string>& train_args,
                                               int visible_gpus);

// Runs the workload and returns the exit status: 0 only when every copy succeeded; 137 when a
// failed copy was killed by SIGKILL (what the kernel's out-of-memory killer sends, and what
// HEPscore reads as out of memory); 128 + signal when the workload was asked to stop; else 1.
int run_workload(const WorkloadOptions& opt, const std::string& self_exe);

}  // namespace hmb::app
