#include "dist/launch.hpp"

#include <sys/statvfs.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>

#include <nlohmann/json.hpp>

#include "util/atomic_file.hpp"
#include "util/error.hpp"
#include "util/json_text.hpp"

namespace hmb::dist {

namespace {

// How hep-mlbench's own launcher marks the ranks it starts.
constexpr const char* kOwnLauncherVariable = "HMB_LAUNCHER";
constexpr const char* kOwnLauncherName = "hep-mlbench";

// One contract: the names of its four variables; local ones may be absent (one node).
struct Contract {
  const char* launcher;
  const char* rank;
  const char* world;
  const char* local_rank;   // may be nullptr
  const char* local_world;  // may be nullptr
};

// In the order they are tried: mpirun inside a Slurm allocation still has the allocation's
// SLURM_* variables, so MPI's own come first.
constexpr Contract kContracts[] = {
    {"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"},
    {"openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
     "OMPI_COMM_WORLD_LOCAL_SIZE"},
    {"pmi", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"},
    {"slurm", "SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "SLURM_LOCALID", nullptr},
};

// A rank or a count as a launcher writes it (a whole number, below 2^24), or nothing.
std::optional<int> whole_count(const std::string& value) {
  char* end = nullptr;
  const long v = std::strtol(value.c_str(), &end, 10);
  if (value.empty() || end != value.c_str() + value.size() || v < 0 || v >= (1L << 24)) return std::nullopt;
  return static_cast<int>(v);
}

int parse_int(const std::string& name, const std::string& value) {
  const auto v = whole_count(value);
  require(v.has_value(), "environment: " + name + "='" + value + "' is not a rank or a count (a whole number >= 0)");
  return *v;
}

std::optional<int> read_int(const EnvLookup& env, const char* name) {
  if (name == nullptr) return std::nullopt;
  auto v = env(name);
  if (!v) return std::nullopt;
  return parse_int(name, *v);
}

// Slurm's tasks per node, "2(x3),1", as one count per node of the step: {2, 2, 2, 1}. Empty when
// the value is not of that form.
std::vector<int> expand_tasks_per_node(const std::string& value) {
  std::vector<int> counts;
  size_t pos = 0;
  while (pos < value.size()) {
    const size_t comma = value.find(',', pos);
    const std::string group = value.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? value.size() : comma + 1;
    char* end = nullptr;
    const long n = std::strtol(group.c_str(), &end, 10);
    if (end == group.c_str() || n < 1) return {};
    long repeat = 1;
    if (*end == '(') {
      if (end[1] != 'x') return {};
      char* close = nullptr;
      repeat = std::strtol(end + 2, &close, 10);
      if (close == end + 2 || *close != ')' || close[1] != '\0' || repeat < 1 || repeat > (1L << 20)) return {};
    } else if (*end != '\0') {
      return {};
    }
    counts.insert(counts.end(), static_cast<size_t>(repeat), static_cast<int>(n));
  }
  return counts;
}

// The number of this step's tasks on this node (the local world), and the variable it came from.
// Slurm gives the tasks of every node of the step (SLURM_STEP_TASKS_PER_NODE; the job's
// SLURM_TASKS_PER_NODE when the step's is missing) and this node's place among them
// (SLURM_NODEID); without the node's place, a list whose nodes all hold the same count still
// answers. Then --ntasks-per-node (SLURM_NTASKS_PER_NODE), then a step on one node (all its tasks
// are here). A count that does not exceed the local rank is not this node's, and is skipped; a
// value that is not of Slurm's form is an error naming it.
std::optional<std::pair<int, std::string>> slurm_local_world(const EnvLookup& env, int local_rank, int world) {
  const std::optional<int> node = read_int(env, "SLURM_NODEID");
  for (const char* name : {"SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"}) {
    auto v = env(name);
    if (!v) continue;
    const auto counts = expand_tasks_per_node(*v);
    // Slurm writes this list itself: another form was set by something else, and guessing past it
    // could split this node's cores among ranks that are not there.
    require(!counts.empty(), "environment: " + std::string(name) + "='" + *v +
                                 "' is not Slurm's list of tasks per node (such as 4 or 2(x3),1): unset it, or "
                                 "start the ranks with srun, which sets it");
    int n = 0;
    if (node && static_cast<size_t>(*node) < counts.size()) {
      n = counts[static_cast<size_t>(*node)];
    } else if (std::all_of(counts.begin(), counts.end(), [&](int c) { return c == counts.front(); })) {
      n = counts.front();
    }
    if (n > local_rank) return std::make_pair(n, std::string(name));
  }
  if (auto n = read_int(env, "SLURM_NTASKS_PER_NODE"); n && *n > local_rank && *n <= world)
    return std::make_pair(*n, std::string("SLURM_NTASKS_PER_NODE"));
  for (const char* name : {"SLURM_STEP_NUM_NODES", "SLURM_NNODES"}) {
    if (auto v = env(name); v && *v == "1") return std::make_pair(world, std::string(name) + "=1");
  }
  return std::nullopt;
}

}  // namespace

std::string LaunchInfo::describe() const {
  if (!multi_rank()) return launcher == "none" ? "one process" : "one process, started by " + launcher;
  return "rank " + std::to_string(rank) + " of " + std::to_string(world) + " (local " + std::to_string(local_rank) +
         " of " + std::to_string(local_world) + "), started by " + launcher;
}

std::string LaunchInfo::rendezvous() const {
  if (!multi_rank()) return "";
  if (!master_addr.empty()) return master_addr + ":" + std::to_string(master_port);
  return "file " + rendezvous_file;
}

LaunchInfo detect_launch(const EnvLookup& env) {
  LaunchInfo info;
  for (const auto& c : kContracts) {
    auto rank = read_int(env, c.rank);
    auto world = read_int(env, c.world);
    if (!rank || !world) continue;
    info.launcher = c.launcher;
    info.contract = std::string(c.rank) + " " + c.world;
    if (info.launcher == "torchrun") {
      if (started_by_own_launcher(env)) {
        info.launcher = "hep-mlbench";
      } else if (!env("TORCHELASTIC_RUN_ID")) {
        info.launcher = "env";
      }
    }
    info.rank = *rank;
    info.world = *world;
    require(info.world >= 1, std::string("environment: ") + c.world + "=0: a job has at least one rank");
    require(info.rank < info.world, std::string("environment: ") + c.rank + "=" + std::to_string(info.rank) +
                                        " is not below " + c.world + "=" + std::to_string(info.world));
    auto local_rank = read_int(env, c.local_rank);
    auto local_world = read_int(env, c.local_world);
    if (local_rank) info.contract += std::string(" ") + c.local_rank;
    if (local_world && c.local_world) info.contract += std::string(" ") + c.local_world;
    if (info.launcher == "slurm" && local_rank) {
      if (auto found = slurm_local_world(env, *local_rank, info.world)) {
        local_world = found->first;
        info.contract += " " + found->second;
      }
    }
    // Without the local variables, all ranks are taken to be on this node. A local rank without
    // its node's count gives a lower bound only, which the run warns of.
    info.local_rank = local_rank.value_or(info.rank);
    // A node holds at most the job's ranks: a local rank or count past them is a launch setting
    // that belongs to another job (it used to split the threads for ranks that do not exist).
    require(info.local_rank < info.world && local_world.value_or(1) <= info.world,
            "environment: local rank " + std::to_string(info.local_rank) +
                (local_world ? " of " + std::to_string(*local_world) : std::string()) + " does not fit a job of " +
                std::to_string(info.world) + " rank(s) (" + info.contract + "): set the launch variables of one job");
    info.local_world = local_world.value_or(local_rank ? info.local_rank + 1 : info.world);
    info.local_world_known = local_world.has_value() || !local_rank;
    require(info.local_world >= 1 && info.local_rank < info.local_world,
            "environment: local rank " + std::to_string(info.local_rank) + " is not below the local world size " +
                std::to_string(info.local_world) + " (" + info.contract + ")");
    break;
  }

  // The meeting point matters to several ranks only: one process never reads it, so a
  // MASTER_PORT left in the environment by something else cannot stop it.
  if (info.multi_rank()) {
    if (auto addr = env("MASTER_ADDR"); addr && !addr->empty()) info.master_addr = *addr;
    if (auto port = env("MASTER_PORT"); port && !port->empty()) {
      char* end = nullptr;
      const long p = std::strtol(port->c_str(), &end, 10);
      require(end == port->c_str() + port->size() && p >= 1 && p <= 65535,
              "environment: MASTER_PORT='" + *port + "' is not a TCP port (a whole number from 1 to 65535)");
      info.master_port = static_cast<int>(p);
    }
    if (auto file = env("HMB_RENDEZVOUS_FILE"); file && !file->empty()) info.rendezvous_file = *file;
    if (auto agent = env("TORCHELASTIC_USE_AGENT_STORE"); agent && *agent == "True" && info.launcher == "torchrun")
      info.agent_store = true;
    // torchrun restarts a failed job in the same agent store: each attempt keeps its own keys.
    if (info.launcher == "torchrun")
      if (auto n = read_int(env, "TORCHELASTIC_RESTART_COUNT")) info.attempt = *n;
    const bool tcp = !info.master_addr.empty() && info.master_port > 0;
    require(tcp || !info.rendezvous_file.empty(),
            "environment: " + std::to_string(info.world) + " ranks (" + info.contract + ", " + info.launcher +
                ") but no meeting point: set MASTER_ADDR and MASTER_PORT (rank 0's host and a free port), "
                "or HMB_RENDEZVOUS_FILE to a path every rank can see");
    if (tcp) info.rendezvous_file.clear();  // the TCP store wins when both are given
  }
  return info;
}

namespace {
std::optional<std::string> from_environment(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}
}  // namespace

LaunchInfo detect_launch() { return detect_launch(from_environment); }

std::optional<std::string> lone_job_size_warning(const EnvLookup& env) {
  for (const auto& c : kContracts) {
    if (std::string(c.launcher) == "slurm") continue;
    const auto world = env(c.world);
    if (!world || env(c.rank) || *world == "1" || *world == "0") continue;
    return "dist: " + std::string(c.world) + "=" + *world + " is set but " + c.rank +
           " is not, so this process trains alone: a launcher sets both (unset " + c.world +
           " for a single process, or start the job with a launcher: docs/data-parallel.md)";
  }
  return std::nullopt;
}

std::optional<std::string> lone_job_size_warning() { return lone_job_size_warning(from_environment); }

bool reports_for_job(const EnvLookup& env) {
  try {
    return detect_launch(env).rank == 0;
  } catch (const Error&) {
    // The first contract present decides, as in detect_launch. Only a process that reads as
    // another rank of a job of several leaves the report to rank 0: a rank that is no number
    // (RANK=x) or a job of one (RANK=1 WORLD_SIZE=1) has no rank 0 to count on.
    for (const auto& c : kContracts) {
      const auto rank = env(c.rank);
      const auto world = env(c.world);
      if (!rank || !world) continue;
      const auto r = whole_count(*rank);
      const auto w = whole_count(*world);
      const bool other_rank_of_several = r && *r > 0 && !(w && *w <= 1);
      return !other_rank_of_several;
    }
    return true;
  }
}

bool reports_for_job() { return reports_for_job(from_environment); }

bool started_by_own_launcher(const EnvLookup& env) {
  const auto who = env(kOwnLauncherVariable);
  return who && *who == kOwnLauncherName;
}

bool started_by_own_launcher() { return started_by_own_launcher(from_environment); }

std::vector<std::pair<std::string, std::string>> child_environment(int rank, int world,
                                                                   const std::string& rendezvous_file) {
  return {{kOwnLauncherVariable, kOwnLauncherName},
          {"RANK", std::to_string(rank)},
          {"WORLD_SIZE", std::to_string(world)},
          {"LOCAL_RANK", std::to_string(rank)},
          {"LOCAL_WORLD_SIZE", std::to_string(world)},
          {"HMB_RENDEZVOUS_FILE", rendezvous_file},
          // the file rendezvous, not a TCP store the caller's environment may name
          {"MASTER_ADDR", ""},
          {"MASTER_PORT", ""}};
}

void tell_launcher(const std::string& reason) {
  const char* file = std::getenv("TORCHELASTIC_ERROR_FILE");
  if (file == nullptr || *file == '\0') return;
  // torchrun's form for a message without a traceback: a string and the time of the failure,
  // which decides the rank its summary calls the first to fail.
  const nlohmann::json error = {{"message", "hep-mlbench: " + reason},
                                {"timestamp", static_cast<long long>(std::time(nullptr))}};
  try {
    write_file_atomic(file, json_text(error) + "\n");
  } catch (const Error&) {
  }
}

std::optional<std::string> shared_memory_warning(int local_gpu_ranks, long long shm_bytes) {
  if (local_gpu_ranks < 2 || shm_bytes < 0 || shm_bytes >= kMinSharedMemoryBytes) return std::nullopt;
  return "dist: /dev/shm holds only " + std::to_string(shm_bytes >> 20) + " MiB, and NCCL passes data between the " +
         std::to_string(local_gpu_ranks) + " GPU ranks of this node through it: the job may fail or slow down. " +
         "Give the container more (docker run --shm-size=1g, or --ipc=host)";
}

long long file_system_bytes(const std::string& path) {
  struct statvfs st {};
  if (statvfs(path.c_str(), &st) != 0) return -1;
  return static_cast<long long>(st.f_blocks) * static_cast<long long>(st.f_frsize);
}

}  // namespace hmb::dist
