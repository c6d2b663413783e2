#include "dist/launch.hpp"

#include <sys/statvfs.h>

#include <cstdlib>
#include <ctime>

#include <nlohmann/json.hpp>

#include "util/atomic_file.hpp"
#include "util/error.hpp"

namespace hmb::dist {

namespace {

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

int parse_int(const std::string& name, const std::string& value) {
  char* end = nullptr;
  const long v = std::strtol(value.c_str(), &end, 10);
  require(!value.empty() && end == value.c_str() + value.size() && v >= 0 && v < (1L << 24),
          "environment: " + name + "='" + value + "' is not a rank or a count (a whole number >= 0)");
  return static_cast<int>(v);
}

std::optional<int> read_int(const EnvLookup& env, const char* name) {
  if (name == nullptr) return std::nullopt;
  auto v = env(name);
  if (!v) return std::nullopt;
  return parse_int(name, *v);
}

// Slurm writes tasks per node as "2(x3),1": the first group is this job's common case. The
// local world is only used to bind GPUs, so an unparsable value falls back to 1 rank per node.
std::optional<int> slurm_tasks_per_node(const EnvLookup& env, int local_rank) {
  for (const char* name : {"SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"}) {
    if (auto v = env(name); v && !v->empty()) {
      char* end = nullptr;
      const long n = std::strtol(v->c_str(), &end, 10);
      if (end != v->c_str() && n > local_rank) return static_cast<int>(n);
    }
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
      if (auto who = env("HMB_LAUNCHER"); who && *who == "hep-mlbench") {
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
    if (info.launcher == "slurm" && local_rank) local_world = slurm_tasks_per_node(env, *local_rank);
    if (local_rank) info.contract += std::string(" ") + c.local_rank;
    if (local_world && c.local_world) info.contract += std::string(" ") + c.local_world;
    // Without the local variables, all ranks are taken to be on this node.
    info.local_rank = local_rank.value_or(info.rank);
    info.local_world = local_world.value_or(local_rank ? info.local_rank + 1 : info.world);
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

bool reports_for_job(const EnvLookup& env) {
  try {
    return detect_launch(env).rank == 0;
  } catch (const Error&) {
    for (const auto& c : kContracts) {
      if (auto rank = env(c.rank); rank && env(c.world)) return *rank == "0";
    }
    return true;
  }
}

bool reports_for_job() { return reports_for_job(from_environment); }

std::vector<std::pair<std::string, std::string>> child_environment(int rank, int world,
                                                                   const std::string& rendezvous_file) {
  return {{"HMB_LAUNCHER", "hep-mlbench"},
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
    write_file_atomic(file, error.dump() + "\n");
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
