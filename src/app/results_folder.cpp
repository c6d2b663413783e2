#include "app/results_folder.hpp"

#include <signal.h>
#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <string>
#include <fstream>

#include "report/summary.hpp"
#include "util/error.hpp"

namespace hmb::app {

namespace fs = std::filesystem;

std::vector<std::string> run_outputs(const std::string& results) {
  std::vector<std::string> out = {report::kSummaryFile, kFinalWeights, kStepsCsv, kPage, kConfig, kSweepCsv, kSweepJson};
  std::error_code ec;
  std::vector<std::string> copies;
  for (const auto& e : fs::directory_iterator(results, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("proc_", 0) == 0 && e.is_directory(ec)) copies.push_back(name);
  }
  std::sort(copies.begin(), copies.end());
  out.insert(out.end(), copies.begin(), copies.end());
  return out;
}

std::string trace_path_problem(const std::string& trace, const std::string& results,
                               const std::vector<std::pair<std::string, std::string>>& inputs) {
  if (trace.empty()) return "";
  std::error_code ec;
  const std::string head = "option --trace: '" + trace + "' is ";
  for (const auto& [option, path] : inputs)
    if (!path.empty() && fs::equivalent(trace, path, ec))
      return head + "the file of " + option + ", which the run reads: give the trace another path";
  // The folder itself, or a file of it, whether there yet or not: the names the run writes there.
  const fs::path at = fs::weakly_canonical(fs::absolute(trace, ec), ec);
  const fs::path folder = fs::weakly_canonical(fs::absolute(results, ec), ec);
  if (at == folder) return head + "the run's results folder: give the trace a file name";
  if (at.parent_path() != folder) return "";
  const std::string name = at.filename().string();
  auto starts = [&name](const char* p) { return name.rfind(p, 0) == 0; };
  const auto outputs = run_outputs(results);
  const bool written = std::find(outputs.begin(), outputs.end(), name) != outputs.end() || name == kPrevious ||
                       name == "hep-mlbench.log" || name == "launcher.log" ||
                       ((starts("rank_") || starts("proc_")) && name.size() > 5);
  if (!written) return "";
  return head + "a file the run writes in its results folder '" + results +
         "': give the trace another name (trace.json there is fine)";
}

namespace {
// Whether `path` is `input` or holds it.
bool holds(const fs::path& path, const std::string& input) {
  if (input.empty()) return false;
  std::error_code ec;
  if (fs::equivalent(path, input, ec)) return true;
  const auto rel = fs::weakly_canonical(input, ec).lexically_relative(fs::weakly_canonical(path, ec));
  return !rel.empty() && *rel.begin() != ".." && *rel.begin() != ".";
}

// The earlier run in `dir` succeeded: its report says so, or (a sweep, which writes none of
// its own) every row of its sweep.json does. What cannot be read is not worth keeping.
bool earlier_run_succeeded(const fs::path& dir) {
  auto read = [](const fs::path& file) -> nlohmann::json {
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) return nullptr;  // a FIFO there would block the read
    try {
      std::ifstream in(file);
      return nlohmann::json::parse(in);
    } catch (const std::exception&) {
      return nullptr;
    }
  };
  const auto summary = read(dir / report::kSummaryFile);
  if (summary.is_object() && summary.contains("report") && summary["report"].is_object() &&
      summary["report"].value("log", "") == "ok")
    return true;
  const auto rows = read(dir / kSweepJson);
  if (!rows.is_array() || rows.empty()) return false;
  for (const auto& row : rows)
    if (!row.is_object() || row.value("status", "") != "ok") return false;
  return true;
}
}  // namespace

bool read_by_run(const std::string& path, const std::vector<std::string>& inputs) {
  for (const std::string& input : inputs)
    if (holds(path, input)) return true;
  return false;
}

std::string replace_unfinished_report(const nlohmann::json& summary, const std::string& results) {
  try {
    return report::write_summary(summary, results);
  } catch (const Error&) {
    std::error_code ignored;
    fs::remove(fs::path(results) / report::kSummaryFile, ignored);
    throw;
  }
}

void set_aside_previous_outputs(const std::string& results, const std::vector<std::string>& inputs) {
  const std::vector<std::string> outputs = run_outputs(results);
  std::error_code ec;
  const fs::path dir = results;
  // A run killed while it wrote a file (SIGKILL, a power cut) leaves its temporary
  // (`<file>.tmp.<pid>`, write_file_atomic). The caller holds the folder's lock, and a
  // temporary whose process is gone is a leftover (one of a live process, such as the launcher
  // of this job, is not touched).
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    for (const auto& output : outputs) {
      const std::string prefix = output + ".tmp.";
      if (name.size() <= prefix.size() || name.size() > prefix.size() + 9 || name.rfind(prefix, 0) != 0 ||
          name.find_first_not_of("0123456789", prefix.size()) != std::string::npos || !e.is_regular_file(ec))
        continue;
      const auto pid = static_cast<pid_t>(std::stol(name.substr(prefix.size())));
      if (::kill(pid, 0) != 0 && errno == ESRCH) {
        std::error_code ignored;
        fs::remove(e.path(), ignored);
        spdlog::info("results: removed {}, left by a run that was killed while writing it", e.path().string());
      }
    }
  }
  ec.clear();
  bool any = false;
  for (const auto& name : outputs) any |= fs::exists(dir / name, ec);
  if (!any) return;
  const bool succeeded = earlier_run_succeeded(dir);
  const fs::path previous = dir / kPrevious;
  if (succeeded) {
    // previous/ is about to be replaced: not while this run reads a file in it.
    for (const std::string& input : inputs) {
      if (input.empty()) continue;
      require(!holds(previous, input),
              "results folder '" + results + "': this run reads '" + input + "', which lies in " + previous.string() +
                  ", where the earlier run that succeeded in '" + results + "' is about to go: copy the file "
                  "elsewhere first, or choose another results folder");
    }
    // previous/ is hep-mlbench's: anything else of that name is the user's, not to be removed.
    const auto kind = fs::symlink_status(previous, ec);
    require(!fs::exists(kind) || fs::is_directory(kind),
            "results folder '" + results + "': " + previous.string() + " is a file or a link, not the folder where " +
                "hep-mlbench keeps an earlier run's files, and is left alone: move it away, or choose another results "
                "folder");
    fs::remove_all(previous, ec);
    fs::create_directories(previous, ec);
    require(fs::is_directory(previous), "results folder '" + results + "': cannot make " + previous.string() +
                                            " to keep the earlier run's files: " + ec.message() +
                                            " (choose another results folder)");
  }
  for (const auto& name : outputs) {
    const fs::path p = dir / name;
    if (!fs::exists(p, ec)) continue;
    const bool folder = fs::is_directory(p, ec);
    if (read_by_run(p.string(), inputs)) {
      spdlog::info("results: keeping {}: this run reads it", p.string());
      if (succeeded)
        fs::copy(p, previous / name, fs::copy_options::overwrite_existing | fs::copy_options::recursive, ec);
    } else if (succeeded) {
      fs::rename(p, previous / name, ec);
    } else if (!folder) {
      fs::remove(p, ec);
    }
    require(!ec, "results folder '" + results + "': cannot set aside the earlier run's " + name + ": " + ec.message() +
                     " (choose another results folder)");
  }
  if (succeeded)
    spdlog::info("results: {} held the report of an earlier run that succeeded; its files are now in {}", results,
                 previous.string());
  else
    spdlog::info("results: {} held the files of an earlier run that failed; this run replaces them", results);
}

FolderLock prepare_failure_report(const std::string& results, const std::vector<std::string>& inputs,
                                  const std::string& option, bool lock) {
  FolderLock held;
  std::error_code ec;
  if (!fs::is_directory(results, ec)) return held;  // nothing there yet to protect
  if (lock) held = FolderLock(results, option);
  set_aside_previous_outputs(results, inputs);
  return held;
}

}  // namespace hmb::app
