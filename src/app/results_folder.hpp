#pragma once
// A results folder that already holds an earlier run's files, before a new run (or a failed
// start) writes its own: what a run writes there, and how the earlier run's files are set aside.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/atomic_file.hpp"

namespace hmb::app {

// What `train` writes into its results folder besides the log.
inline constexpr const char* kFinalWeights = "final_weights.pt";
inline constexpr const char* kStepsCsv = "steps.csv";
inline constexpr const char* kPage = "report.html";
inline constexpr const char* kConfig = "config.yaml";
// What `sweep` writes at the top of its folder (each batch size's run goes into bsN/).
inline constexpr const char* kSweepCsv = "sweep.csv";
inline constexpr const char* kSweepJson = "sweep.json";
// Where the files of an earlier run that succeeded go.
inline constexpr const char* kPrevious = "previous";

// What any run (train, sweep, the workload) writes into a results folder, as names there: the
// summary, train's files, the sweep's rows and the workload's copy folders proc_<i>/ found
// there. Every command sets aside all of them, whichever command wrote them.
std::vector<std::string> run_outputs(const std::string& results);

// What is wrong with `trace` as the path of the run's --trace timeline, or "": one of the files
// the run reads (`inputs`: option and path, such as {"--data", "events.h5"}), `results` itself,
// or a file the run writes into `results` (its summary, configuration, weights, page, rows,
// logs). Written last, the trace would replace them, or be replaced.
std::string trace_path_problem(const std::string& trace, const std::string& results,
                               const std::vector<std::pair<std::string, std::string>>& inputs);

// Whether this run reads `path` (one of `inputs`, the files it reads) or a file inside it.
bool read_by_run(const std::string& path, const std::vector<std::string>& inputs);

// Writes a run's final `summary` into `results` over the report written at its start. When it
// cannot, removes that one (it would say the run was killed) and throws the Error.
std::string replace_unfinished_report(const nlohmann::json& summary, const std::string& results);

// Sets aside the earlier run's `outputs` (run_outputs()) found in `results`, so that a failed run never leaves
// its report beside the weights or page of another, and the results of a run that succeeded are
// never lost to the next one, be it a typo. The earlier run succeeded when its report says so
// (a sweep, which has none, when every row of its sweep.json does): its outputs then go to
// previous/, whose earlier content goes. Otherwise its files are removed and its folders left
// (a copy's folder is set aside by that copy, its log kept). An output that this run reads
// (--init-weights pointing at the earlier final weights, say), or a folder holding one, stays
// where it is and is copied to previous/. Throws Error naming the folder and what to do.
void set_aside_previous_outputs(const std::string& results, const std::vector<std::string>& inputs);

// Before a failed start writes its report into `results`: takes the folder's lock (unless
// `lock` is false: a rank whose launcher holds it for the job), held by the result, and sets
// aside the earlier run's files. Throws Error saying why nothing may be written there: another
// run is writing there, or the earlier files cannot be set aside. `option` names the way to
// choose another folder.
FolderLock prepare_failure_report(const std::string& results, const std::vector<std::string>& inputs,
                                  const std::string& option, bool lock = true);

}  // namespace hmb::app
