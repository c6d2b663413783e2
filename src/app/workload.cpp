#include "app/workload.hpp"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <torch/cuda.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <thread>

#include "app/results_folder.hpp"
#include "config/option_table.hpp"
#include "config/run_config.hpp"
#include "sys/context.hpp"
#include "util/atomic_file.hpp"
#include "util/error.hpp"
#include "util/json_text.hpp"
#include "util/process.hpp"

extern char** environ;

namespace hmb::app {

namespace fs = std::filesystem;

std::string detect_containment() {
  if (std::getenv("APPTAINER_CONTAINER") || std::getenv("SINGULARITY_CONTAINER") ||
      fs::exists("/.singularity.d"))
    return "singularity";
  // podman sets `container=podman` (and usually /run/.containerenv, absent with some runtimes).
  // Other values (lxc, systemd-nspawn) are not container engines the report knows.
  if (const char* c = std::getenv("container"); c != nullptr && (std::string(c) == "podman" || std::string(c) == "docker"))
    return c;
  if (fs::exists("/run/.containerenv")) return "podman";
  if (fs::exists("/.dockerenv")) return "docker";
  return "none";
}

std::vector<std::string> copy_input_files(const std::vector<std::string>& args) {
  static const std::array<std::string, 4> kFileOptions = {"data", "init-weights", "config", "trace"};
  std::vector<std::string> files;
  std::vector<std::string> configs;
  for (size_t i = 0; i < args.size(); ++i) {
    for (const std::string& name : kFileOptions) {
      const std::string option = "--" + name;
      std::string value;
      if (args[i] == option && i + 1 < args.size())
        value = args[i + 1];
      else if (args[i].rfind(option + "=", 0) == 0)
        value = args[i].substr(option.size() + 1);
      else
        continue;
      files.push_back(value);
      if (name == "config") configs.push_back(value);
    }
  }
  for (const std::string& file : configs) {
    try {
      const YAML::Node y = config::load_config_file(file);
      if (!y.IsMap()) continue;
      for (const std::string& name : kFileOptions)
        if (name != "config" && y[name] && y[name].IsScalar()) files.push_back(y[name].as<std::string>());
    } catch (const std::exception&) {
    }
  }
  return files;
}

namespace {
std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& a : v) s += (s.empty() ? "" : " ") + a;
  return s;
}

std::string timestamp() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::gmtime(&t));
  return buf;
}

// Starts `self train ...` for one copy with stdout+stderr into <dir>/hep-mlbench.log. The copy
// gets SIGTERM when the workload dies (SIGKILL, the out-of-memory killer, a second stop signal):
// it then stops after its current step and reports that, instead of training on unwatched.
pid_t start_copy(const std::string& self, const std::vector<std::string>& args, const std::string& dir) {
  const std::string log = dir + "/hep-mlbench.log";
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(self.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // O_NONBLOCK: a FIFO there with no reader fails at once (ENXIO) instead of waiting; cleared
  // below, so that the copy writes as to any file.
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0644);
  require(fd >= 0, "cannot open the copy's log '" + log + "': " + std::strerror(errno) +
                      " (move it away or make it writable, or choose another results folder)");
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {  // only async-signal-safe calls from here to exec
    if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || ::getppid() != parent) ::_exit(128 + SIGTERM);
    if (::dup2(fd, 1) < 0 || ::dup2(fd, 2) < 0) ::_exit(127);
    ::execve(self.c_str(), argv.data(), environ);
    ::_exit(127);
  }
  const int err = errno;
  ::close(fd);
  require(pid > 0, "cannot start '" + self + "': " + std::strerror(err));
  return pid;
}

nlohmann::json read_copy_summary(const std::string& dir, int copy, int status) {
  const std::string path = dir + "/" + report::kSummaryFile;
  std::ifstream in(path);
  if (in.good()) {
    try {
      auto j = nlohmann::json::parse(in);
      // The report a copy writes when it starts counts as none: how the copy ended says more.
      if (!report::is_unfinished(j)) return j;
    } catch (const std::exception&) {
    }
  }
  std::string why = "copy " + std::to_string(copy) + " ";
  if (WIFSIGNALED(status)) {
    why += "was killed by signal " + std::to_string(WTERMSIG(status));
    if (WTERMSIG(status) == SIGKILL) why += " (out of memory?)";
  } else {
    why += "exited with status " + std::to_string(WEXITSTATUS(status));
  }
  why += " before it finished its report; see " + dir + "/hep-mlbench.log";
  return report::make_error_summary(why, {});
}
}  // namespace

std::optional<std::string> gpu_sharing_warning(int copies, const std::vector<std::string>& train_args,
                                               int visible_gpus) {
  if (copies < 2 || visible_gpus < 1) return std::nullopt;
  for (size_t i = 0; i + 1 < train_args.size(); ++i) {
    if (train_args[i] == "--gpus" && (train_args[i + 1] == "cpu" || train_args[i + 1] == "0")) return std::nullopt;
  }
  return std::to_string(copies) + " copies share GPU 0 (of " + std::to_string(visible_gpus) +
         " visible) and skew each other's figures: use --copies 1 on GPUs, or --gpus cpu for CPU copies";
}

report::RunInfo workload_run_info(const WorkloadOptions& opt) {
  report::RunInfo info;
  info.copies = opt.copies;
  info.containment = detect_containment();
  info.extra_arguments = join(opt.train_args);
  // The cores this process may run on (taskset, a cgroup cpuset, Slurm), not the machine's:
  // HEPscore passes --ncores only when its own count differs from the affinity mask's.
  const int cores = opt.ncores > 0 ? opt.ncores : allowed_cpu_count();
  info.threads_per_copy = opt.threads > 0 ? opt.threads : std::max(1, cores / opt.copies);
  info.events_per_thread = opt.events;
  return info;
}

void add_machine(nlohmann::json& summary) {
  if (!summary.contains("context") || summary["context"].contains("system")) return;
  try {
    summary["context"]["system"] = sys::to_json(sys::collect_context());
  } catch (const std::exception& e) {
    spdlog::warn("the machine's description is left out of the report: {}", e.what());
  }
}

void write_unfinished_report(const std::string& dir, const report::RunInfo& info) {
  auto summary = report::make_unfinished_summary(info);
  add_machine(summary);
  report::write_summary(summary, dir);
}

int write_failure_report(const std::string& dir, const std::string& why, const report::RunInfo& info,
                         const std::string& dir_option) {
  auto summary = report::make_error_summary(why, info);
  add_machine(summary);
  try {
    ensure_writable_dir(dir, dir_option);
  } catch (const Error& e) {
    if (e.what() != why) spdlog::error("{}", why);  // the folder's own error: said once
    report_on_stdout(e.what(), summary);
    return 3;
  }
  spdlog::error("{}", why);
  try {
    const auto path = report::write_summary(summary, dir);
    spdlog::info("report (failed run): {}", path);
  } catch (const Error& e) {
    report_on_stdout(e.what(), summary);
    return 3;
  }
  return 1;
}

void report_on_stdout(const std::string& why, const nlohmann::json& report, const std::string& what) {
  spdlog::error("{}; {} follows on stdout", why, what);
  try {
    write_stdout(json_text(report, 2) + "\n");
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
  }
}

std::string workload_run_dir(const WorkloadOptions& opt) {
  if (opt.write_in_place) return opt.resultsdir;
  const fs::path base = fs::path(opt.resultsdir) / ("hep-mlbench-" + timestamp());
  // Made here, and only by this run: two workloads started in the same second get two folders.
  std::error_code ec;
  fs::create_directories(opt.resultsdir, ec);
  for (int k = 1; k < 1000; ++k) {
    const fs::path dir = k == 1 ? base : fs::path(base.string() + "-" + std::to_string(k));
    if (fs::create_directory(dir, ec)) return dir.string();
    if (ec) break;  // not a folder that exists already: write_failure_report / run_workload say why
  }
  return base.string();
}

int fail_workload(const WorkloadOptions& opt, const std::string& reason) {
  const std::string dir = workload_run_dir(opt);
  FolderLock folder_lock;  // held while the report is written
  try {  // a typo must not cost the results of a run that did happen (-W: the same folder)
    folder_lock = prepare_failure_report(dir, {}, "-w/--resultsdir");
  } catch (const Error& e) {
    spdlog::error("{}", reason);
    spdlog::error("{}; no report is written there", e.what());
    return 1;
  }
  return write_failure_report(dir, reason, workload_run_info(opt));
}

int run_workload(const WorkloadOptions& opt, const std::string& self_exe) {
  const report::RunInfo info = workload_run_info(opt);

  install_stop_handlers();
  // The results folder must be writable, or the report goes to stdout (exit 3).
  try {
    ensure_writable_dir(opt.resultsdir, "-w/--resultsdir");
  } catch (const Error& e) {  // the failed run's summary on stdout, as for any report that cannot be written
    return write_failure_report(opt.resultsdir, e.what(), info);
  }
  // Training events per copy: -e per thread times its threads, within what a count can hold.
  if (opt.events > 0 && opt.events > std::numeric_limits<std::int64_t>::max() / std::max(1, info.threads_per_copy))
    return fail_workload(opt, "option -e/--events: " + std::to_string(opt.events) + " events per thread times " +
                                  std::to_string(info.threads_per_copy) +
                                  " threads is more than any sample holds: give a smaller -e, or 0 for the whole sample");
  // Each copy is a process of at least one thread: more than the bound would only thrash the
  // machine (or run it out of memory) before any could report.
  if (const std::string why = config::per_core_count(1, "copies")(opt.copies); !why.empty())
    return fail_workload(opt, "option -c/--copies: " + std::to_string(opt.copies) + " " + why +
                                  " (HEPscore's usual is one copy per core, or one per GPU)");
  // Threads derived from --ncores are checked here, naming --ncores: each copy's train would
  // otherwise refuse a --threads the user never gave.
  if (opt.threads <= 0)
    if (const std::string why = config::thread_count(1)(info.threads_per_copy); !why.empty())
      return fail_workload(opt, "option --ncores " + std::to_string(opt.ncores) + ": " + std::to_string(opt.copies) +
                                    " cop" + (opt.copies == 1 ? "y" : "ies") + " of " +
                                    std::to_string(info.threads_per_copy) + " threads each, which " + why +
                                    " per copy (give a smaller --ncores, or -t/--threads)");
  const std::string run_dir = workload_run_dir(opt);
  const auto sharing = gpu_sharing_warning(opt.copies, opt.train_args, static_cast<int>(torch::cuda::device_count()));
  if (sharing) spdlog::warn("workload: {}", *sharing);
  std::vector<nlohmann::json> summaries;
  bool copy_killed = false;  // a copy ended by SIGKILL: most likely the out-of-memory killer
  FolderLock folder_lock;  // one run at a time in a folder (-W: HEPscore's, reused)
  try {
    folder_lock = FolderLock(run_dir, "-w/--resultsdir");
  } catch (const Error& e) {
    spdlog::error("workload: {}", e.what());
    return 1;
  }
  // An earlier run's report and copies here (-W) set aside first (or nothing is written, so
  // that they stay); then a report that stands until the merged one is written, so that a
  // workload killed outright still leaves one.
  try {
    fs::create_directories(run_dir);
    const auto inputs = copy_input_files(opt.train_args);
    set_aside_previous_outputs(run_dir, inputs);
    // A failed earlier run's copy folders stay for its copies' successors to set aside; those
    // that this run, with fewer copies, has none for would stand beside its report: removed.
    for (const auto& name : run_outputs(run_dir)) {
      if (name.rfind("proc_", 0) != 0) continue;
      const std::string index = name.substr(5);
      const bool ours = !index.empty() && index.find_first_not_of("0123456789") == std::string::npos &&
                        index.size() < 6 && std::stoi(index) < opt.copies;
      if (ours || read_by_run((fs::path(run_dir) / name).string(), inputs)) continue;
      spdlog::info("results: removing {}/{}, a copy folder of an earlier run that failed", run_dir, name);
      std::error_code ec;
      fs::remove_all(fs::path(run_dir) / name, ec);
    }
  } catch (const std::exception& e) {
    spdlog::error("workload: {}; no report is written, so that an earlier one stays", e.what());
    return 3;
  }
  try {
    write_unfinished_report(run_dir, info);
  } catch (const Error& e) {  // no room for even this: the failure report says so where it can
    return write_failure_report(run_dir, std::string("workload: ") + e.what(), info);
  }
  try {
    std::vector<std::pair<pid_t, std::string>> running;
    for (int i = 0; i < opt.copies && stop_requested() == 0; ++i) {  // a stop: no more copies started
      const std::string dir = (fs::path(run_dir) / ("proc_" + std::to_string(i))).string();
      fs::create_directories(dir);
      std::vector<std::string> args = {"train", "--results", dir, "--threads", std::to_string(info.threads_per_copy)};
      if (opt.events > 0) {
        args.insert(args.end(), {"--max-train-events", std::to_string(opt.events * info.threads_per_copy)});
      }
      if (opt.debug) args.insert(args.begin(), "--debug");
      args.insert(args.end(), opt.train_args.begin(), opt.train_args.end());
      spdlog::info("workload: copy {} in {}: hep-mlbench {}", i, dir, join(args));
      running.emplace_back(start_copy(self_exe, args, dir), dir);
    }
    // A stop signal to the workload (docker stop, HEPscore or Slurm ending the job) goes on to
    // every copy still running: each stops after its current step and writes a summary that
    // says it was interrupted, and the merged summary says so too.
    std::vector<bool> reaped(running.size(), false);
    bool forwarded = false;
    auto forward_stop = [&] {
      if (forwarded || stop_requested() == 0) return;
      forwarded = true;
      spdlog::warn("workload: signal {} received: asking the copies to stop", stop_requested());
      for (size_t j = 0; j < running.size(); ++j)
        if (!reaped[j]) kill(running[j].first, stop_requested());
    };
    for (size_t i = 0; i < running.size(); ++i) {
      int status = 0;
      for (;;) {
        forward_stop();
        const pid_t done = waitpid(running[i].first, &status, WNOHANG);
        if (done == running[i].first) break;
        if (done < 0 && errno != EINTR) break;  // not our child any more: its summary decides
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      reaped[i] = true;
      copy_killed |= WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
      summaries.push_back(read_copy_summary(running[i].second, static_cast<int>(i), status));
    }
  } catch (const std::exception& e) {
    summaries.push_back(report::make_error_summary(std::string("workload: ") + e.what(), info));
  }

  nlohmann::json merged = report::combine_copies(summaries, info);
  merged["app"]["containment"] = info.containment;
  add_machine(merged);  // when no copy's report described it (all failed before training)
  if (sharing && merged["report"]["wl-stats"].is_object()) merged["report"]["wl-stats"]["warnings"].push_back(*sharing);
  try {
    const std::string path = replace_unfinished_report(merged, run_dir);
    spdlog::info("workload: summary {}", path);
  } catch (const Error& e) {  // as train: the measurement goes to stdout
    report_on_stdout(e.what(), merged);
    return 3;
  }
  if (opt.mop == "all") {
    // Keep each copy's log and summary; remove everything else it wrote.
    for (int i = 0; i < opt.copies; ++i) {
      const fs::path dir = fs::path(run_dir) / ("proc_" + std::to_string(i));
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(dir, ec)) {
        const auto name = e.path().filename().string();
        if (name != "hep-mlbench.log" && name != report::kSummaryFile) fs::remove_all(e.path(), ec);
      }
    }
  }
  if (stop_requested() != 0) {
    spdlog::error("workload interrupted by signal {}", stop_requested());
    return 128 + stop_requested();
  }
  const bool ok = merged["report"]["log"] == "ok";
  if (ok) {
    const auto& stats = merged["report"]["wl-stats"];
    auto value = [&](const char* key) {
      return stats.contains(key) && stats[key].is_object() ? stats[key].value("value", 0.0) : 0.0;
    };
    spdlog::info("workload: score {:.4g} events/s ({} cop{}), validation accuracy {:.4f}, on particles {:.4f}",
                 merged["report"]["wl-scores"].value(report::kScoreKey, 0.0), opt.copies, opt.copies == 1 ? "y" : "ies",
                 value("validation_accuracy"), value("validation_accuracy_particles"));
  }
  if (ok) return 0;
  spdlog::error("workload: {}", merged["report"].value("error", std::string("unknown")));
  return copy_killed ? 137 : 1;
}

}  // namespace hmb::app
