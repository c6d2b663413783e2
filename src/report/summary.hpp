#pragma once
// The HEPscore report, hep-mlbench_summary.json: `app`, `run_info`, `report` (wl-scores,
// wl-stats, log) plus `context`. docs/report.md defines every figure and its unit;
// docs/summary.schema.json is its JSON Schema.
#include <nlohmann/json.hpp>

#include <string>

#include "train/records.hpp"

namespace hmb::report {

inline constexpr const char* kSummaryFile = "hep-mlbench_summary.json";
inline constexpr const char* kScoreKey = "mlpf_train_events_per_s";
inline constexpr int kSchemaVersion = 1;

// How the workload was started (the hep-workloads command line).
struct RunInfo {
  int copies = 1;
  int threads_per_copy = 1;
  long events_per_thread = 0;     // training events per thread (0: the whole sample)
  std::string extra_arguments;    // everything else, as given
  std::string containment = "none";  // docker | singularity | podman | none
};

// Why the run's validation figures (its last epoch's) are absent: empty when that epoch's
// validation ran to its end; otherwise, e.g. "the validation of epoch 3 was interrupted".
std::string validation_absent(const train::RunResult& run);

// The summary of one run (one copy).
nlohmann::json make_summary(const train::RunResult& run, const RunInfo& info);

// The summary of a run that failed before or while training: log "ERROR" and why.
nlohmann::json make_error_summary(const std::string& reason, const RunInfo& info,
                                  const train::RunResult* partial = nullptr);

// The report a run writes as soon as its results folder is its own, and replaces with its real
// report at the end: a run killed before then (SIGKILL, the out-of-memory killer, a second stop
// signal, a crash) still leaves a report that says it failed, and when it started (UTC).
nlohmann::json make_unfinished_summary(const RunInfo& info);
// True for such a report (its error starts with kUnfinished).
inline constexpr const char* kUnfinished = "the run did not finish";
bool is_unfinished(const nlohmann::json& summary);

// Several copies: scores add up (total throughput of the machine), stats are over copies.
nlohmann::json combine_copies(const std::vector<nlohmann::json>& copies, const RunInfo& info);

// Writes `summary` to <dir>/hep-mlbench_summary.json atomically; returns the path.
std::string write_summary(const nlohmann::json& summary, const std::string& dir);

}  // namespace hmb::report
