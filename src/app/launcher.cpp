#include "app/launcher.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "app/workload.hpp"
#include "dist/launch.hpp"
#include "report/summary.hpp"
#include "util/atomic_file.hpp"
#include "util/error.hpp"
#include "util/json_text.hpp"
#include "util/process.hpp"

extern char** environ;

namespace hmb::app {

namespace fs = std::filesystem;

namespace {

std::vector<std::string> own_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> args;
  std::string a;
  while (std::getline(in, a, '\0')) args.push_back(a);
  require(!args.empty(), "launch: cannot read this process's command line (/proc/self/cmdline)");
  return args;
}

// "0-3,8,10-11" -> {0,1,2,3,8,10,11}
std::vector<int> parse_cpu_list(const std::string& text) {
  std::vector<int> out;
  std::stringstream ss(text);
  for (std::string part; std::getline(ss, part, ',');) {
    if (part.empty() || part == "\n") continue;
    const auto dash = part.find('-');
    try {
      const int from = std::stoi(part.substr(0, dash));
      const int to = dash == std::string::npos ? from : std::stoi(part.substr(dash + 1));
      for (int c = from; c <= to; ++c) out.push_back(c);
    } catch (const std::exception&) {
      return {};
    }
  }
  return out;
}

// The NUMA node of each of `cpus` (0 where the machine does not say).
std::vector<int> numa_nodes_of(const std::vector<int>& cpus) {
  std::map<int, int> node_of;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/sys/devices/system/node", ec)) {
    const auto name = e.path().filename().string();
    if (name.rfind("node", 0) != 0 || name.size() < 5 || !std::isdigit(static_cast<unsigned char>(name[4]))) continue;
    std::ifstream in(e.path() / "cpulist");
    std::string list;
    std::getline(in, list);
    for (int c : parse_cpu_list(list)) node_of[c] = std::atoi(name.c_str() + 4);
  }
  std::vector<int> nodes;
  for (int c : cpus) nodes.push_back(node_of.count(c) ? node_of[c] : 0);
  return nodes;
}

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) {
    std::string s = "was killed by signal " + std::to_string(WTERMSIG(status));
    if (const char* name = strsignal(WTERMSIG(status))) s += std::string(" (") + name + ")";
    return s;
  }
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

bool failed(int status) { return WIFSIGNALED(status) || WEXITSTATUS(status) != 0; }

std::string cpu_text(const std::vector<int>& cpus) {
  if (cpus.empty()) return "all";
  std::ostringstream s;
  for (size_t i = 0; i < cpus.size(); ++i) s << (i ? "," : "") << cpus[i];
  return s.str();
}

// torchrun's variable for the file a rank writes its failure to; this launcher gives each rank one.
constexpr const char* kErrorFileVariable = "TORCHELASTIC_ERROR_FILE";

std::string error_file(const std::string& rdv_dir, int rank) {
  return (fs::path(rdv_dir) / ("error_" + std::to_string(rank) + ".json")).string();
}

// The reason a rank wrote to its error file (dist::tell_launcher), or "" when it wrote none.
std::string reason_told(const std::string& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return "";
  try {
    std::ifstream in(file);
    const auto j = nlohmann::json::parse(in);
    std::string message = j.is_object() && j.contains("message") && j["message"].is_string() ? j["message"].get<std::string>() : "";
    const std::string own = "hep-mlbench: ";
    if (message.rfind(own, 0) == 0) message.erase(0, own.size());
    return message;
  } catch (const std::exception&) {
    return "";
  }
}

// Makes sure rank 0's report says the job failed, and why, when a rank failed.
// With `only_if_missing` (the ranks were asked to stop), a report rank 0 wrote is left as it is.
void amend_report(const std::string& results, const std::string& first_failure, bool only_if_missing) {
  const std::string path = (fs::path(results) / report::kSummaryFile).string();
  nlohmann::json j;
  bool have = false;
  if (std::ifstream in(path); in.good()) {
    try {
      j = nlohmann::json::parse(in);
      // The report rank 0 writes when it starts (it did not finish) counts as none.
      have = j.contains("report") && j["report"].is_object() && !report::is_unfinished(j);
    } catch (const std::exception&) {
    }
  }
  if (have && only_if_missing) return;
  if (!have) {
    report::RunInfo info;
    info.containment = detect_containment();
    j = report::make_error_summary(first_failure + "; rank 0 left no report: see the rank logs in " + results, info);
    add_machine(j);
  } else if (j["report"].value("log", "") == "ok") {
    j["report"]["log"] = "ERROR";
    j["report"]["wl-scores"] = nlohmann::json::object();
    j["report"]["error"] = "failed: " + first_failure;
  } else {
    j["report"]["error"] = j["report"].value("error", std::string("failed")) + " (the first rank to fail: " +
                           first_failure + ")";
  }
  write_file_atomic(path, json_text(j, 2) + "\n");
}

}  // namespace

std::vector<std::vector<int>> plan_cores(const std::vector<int>& cpus, const std::vector<int>& numa_node, int ranks,
                                         int threads) {
  std::vector<std::vector<int>> plan(static_cast<size_t>(std::max(ranks, 0)));
  if (ranks <= 0 || threads <= 0 || static_cast<size_t>(ranks) * static_cast<size_t>(threads) > cpus.size()) {
    for (auto& p : plan) p = cpus;
    return plan;
  }
  std::vector<size_t> order(cpus.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const int na = a < numa_node.size() ? numa_node[a] : 0, nb = b < numa_node.size() ? numa_node[b] : 0;
    return na < nb;
  });
  for (int r = 0; r < ranks; ++r)
    for (int t = 0; t < threads; ++t)
      plan[static_cast<size_t>(r)].push_back(cpus[order[static_cast<size_t>(r * threads + t)]]);
  return plan;
}

int launch_local(const LocalLaunch& L) {
  require(L.ranks >= 2, "launch: at least 2 ranks");
  const auto args = own_command_line();
  std::error_code ec;
  const std::string self = fs::read_symlink("/proc/self/exe", ec).string();
  require(!ec, "launch: cannot find this program (/proc/self/exe): " + ec.message());

  // A fresh rendezvous folder: the ranks meet in a file there, no port to pick or to clash.
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/hep-mlbench-rdv-XXXXXX";
  require(mkdtemp(pattern.data()) != nullptr,
          "launch: cannot make a rendezvous folder under " + pattern.substr(0, pattern.rfind('/')) + ": " +
              std::strerror(errno) + " (set TMPDIR to a writable folder)");
  const std::string rdv_dir = pattern;
  const std::string rdv_file = rdv_dir + "/store";

  const auto cpus = allowed_cpus();
  const int threads = L.threads_per_rank > 0 ? L.threads_per_rank
                                             : std::max(1, static_cast<int>(cpus.size()) / L.ranks);
  const auto plan = L.gpus ? std::vector<std::vector<int>>(static_cast<size_t>(L.ranks))
                           : plan_cores(cpus, numa_nodes_of(cpus), L.ranks, threads);
  if (!L.gpus && !plan.empty() && plan[0].size() == cpus.size() && L.ranks > 1)
    spdlog::warn("launch: {} ranks x {} threads is more than the {} cores this process may use: the ranks share "
                 "all cores (not pinned), and their figures suffer",
                 L.ranks, threads, cpus.size());
  spdlog::info("launch: starting {} {} ranks on this node (rendezvous {})", L.ranks, L.gpus ? "GPU" : "CPU", rdv_file);

  // The children's environment: this one, with the rank variables replaced.
  std::vector<std::pair<std::string, std::string>> overrides_base = dist::child_environment(0, L.ranks, rdv_file);
  std::vector<std::string> base_env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    const auto key = kv.substr(0, kv.find('='));
    bool replaced = key == kErrorFileVariable;  // each rank gets its own, below
    for (const auto& [k, v] : overrides_base) replaced |= k == key;
    if (!replaced) base_env.push_back(kv);
  }

  install_stop_handlers();
  const pid_t parent = getpid();
  std::vector<pid_t> pids;
  for (int r = 0; r < L.ranks; ++r) {
    std::vector<std::string> env = base_env;
    for (const auto& [k, v] : dist::child_environment(r, L.ranks, rdv_file))
      if (!v.empty()) env.push_back(k + "=" + v);
    // Where a failing rank says why (dist::tell_launcher), read back below: the first failure
    // then names its cause even when rank 0 writes no report.
    env.push_back(std::string(kErrorFileVariable) + "=" + error_file(rdv_dir, r));
    std::vector<char*> envp, argvp;
    for (auto& s : env) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_copy = args;
    for (auto& s : argv_copy) argvp.push_back(s.data());
    argvp.push_back(nullptr);
    const std::string log = (fs::path(L.results) / ("rank_" + std::to_string(r) + ".console")).string();
    const auto& cores = plan[static_cast<size_t>(r)];
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c : cores) CPU_SET(c, &set);

    const pid_t pid = fork();
    if (pid < 0) {
      const int err = errno;
      for (pid_t p : pids) kill(p, SIGTERM);
      throw Error("launch: cannot start rank " + std::to_string(r) + ": " + std::strerror(err));
    }
    if (pid == 0) {
      // The child: only async-signal-safe calls until exec.
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(1);
      if (!cores.empty()) sched_setaffinity(0, sizeof set, &set);
      if (r > 0 && !L.results.empty()) {
        const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
          dup2(fd, 1);
          dup2(fd, 2);
          close(fd);
        }
      }
      execve(self.c_str(), argvp.data(), envp.data());
      _exit(127);
    }
    spdlog::info("launch: rank {} pid {}{}", r, pid,
                 L.gpus ? ", GPU " + std::to_string(r) : ", cores " + cpu_text(cores));
    pids.push_back(pid);
  }

  // Supervise: forward a stop signal; on the first failure stop the others, then kill them.
  using Clock = std::chrono::steady_clock;
  std::vector<int> status(pids.size(), 0);
  std::vector<bool> done(pids.size(), false);
  std::string first_failure;
  int first_failed_rank = -1, first_failed_status = 0;
  bool forwarded = false, killed = false;
  Clock::time_point deadline{};
  size_t left = pids.size();
  while (left > 0) {
    if (!forwarded && stop_requested() != 0) {
      forwarded = true;
      spdlog::warn("launch: signal {} received: asking every rank to stop", stop_requested());
      for (size_t i = 0; i < pids.size(); ++i)
        if (!done[i]) kill(pids[i], stop_requested());
      deadline = Clock::now() + std::chrono::milliseconds(static_cast<long long>(L.grace_s * 1000));
    }
    // Ranks that ended in this round; a rank killed by a signal is named before the ranks that
    // failed because it was gone.
    std::vector<size_t> ended;
    for (size_t i = 0; i < pids.size(); ++i) {
      if (done[i]) continue;
      int st = 0;
      const pid_t w = waitpid(pids[i], &st, WNOHANG);
      if (w == 0 || (w < 0 && errno == EINTR)) continue;
      if (w < 0) st = 0;  // not our child any more (ECHILD): nothing to learn from it
      done[i] = true;
      status[i] = st;
      --left;
      ended.push_back(i);
    }
    std::stable_sort(ended.begin(), ended.end(),
                     [&](size_t a, size_t b) { return WIFSIGNALED(status[a]) && !WIFSIGNALED(status[b]); });
    for (size_t i : ended) {
      if (!failed(status[i]) || first_failed_rank >= 0) continue;
      first_failed_rank = static_cast<int>(i);
      first_failed_status = status[i];
      first_failure = "rank " + std::to_string(i) + " " + describe_status(status[i]);
      if (const std::string why = reason_told(error_file(rdv_dir, static_cast<int>(i))); !why.empty())
        first_failure += ": " + why;
      if (!forwarded) {
        spdlog::error("launch: {}: stopping the other ranks", first_failure);
        for (size_t j = 0; j < pids.size(); ++j)
          if (!done[j]) kill(pids[j], SIGTERM);
        deadline = Clock::now() + std::chrono::milliseconds(static_cast<long long>(L.grace_s * 1000));
      }
    }
    if (left > 0 && deadline != Clock::time_point{} && Clock::now() > deadline && !killed) {
      killed = true;
      spdlog::error("launch: ranks still running {:.0f} s after the stop: killing them", L.grace_s);
      for (size_t i = 0; i < pids.size(); ++i)
        if (!done[i]) kill(pids[i], SIGKILL);
    }
    if (left > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  fs::remove_all(rdv_dir, ec);

  for (size_t i = 0; i < pids.size(); ++i) spdlog::info("launch: rank {} {}", i, describe_status(status[i]));
  if (first_failed_rank >= 0 && !L.results.empty()) {
    try {
      amend_report(L.results, first_failure, forwarded);
    } catch (const std::exception& e) {
      spdlog::error("launch: could not update the report: {}", e.what());
    }
  }
  if (stop_requested() != 0) return 128 + stop_requested();
  if (first_failed_rank < 0) return 0;
  if (WIFEXITED(first_failed_status)) return WEXITSTATUS(first_failed_status);
  return 1;
}

}  // namespace hmb::app
