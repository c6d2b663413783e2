#pragma once
// Who started this process, which rank it is, and where its peers meet: read from the
// environment contracts of the launchers HPC sites use, so that one binary runs unchanged under
// each of them.
//
//   launcher      variables read (rank, world, local rank, local world)
//   hep-mlbench   RANK WORLD_SIZE LOCAL_RANK LOCAL_WORLD_SIZE, with HMB_LAUNCHER=hep-mlbench
//                 (set by `train --nproc N` / `--gpus N` for the processes it starts)
//   torchrun      RANK WORLD_SIZE LOCAL_RANK LOCAL_WORLD_SIZE (TORCHELASTIC_RUN_ID present)
//   env           RANK WORLD_SIZE [LOCAL_RANK LOCAL_WORLD_SIZE] set by hand or by a script
//   openmpi       OMPI_COMM_WORLD_RANK _SIZE _LOCAL_RANK _LOCAL_SIZE (mpirun of Open MPI)
//   pmi           PMI_RANK PMI_SIZE [MPI_LOCALRANKID MPI_LOCALNRANKS] (MPICH, Intel MPI, PMI)
//   slurm         SLURM_PROCID SLURM_STEP_NUM_TASKS SLURM_LOCALID, and the node's task count
//                 from SLURM_STEP_TASKS_PER_NODE with SLURM_NODEID (or SLURM_TASKS_PER_NODE,
//                 SLURM_NTASKS_PER_NODE, or a one-node step); inside an srun step only: a batch
//                 script alone is one process
//
// The first contract found in this order wins. Where the peers meet: MASTER_ADDR and
// MASTER_PORT (a TCP store on rank 0), or HMB_RENDEZVOUS_FILE (a file on a path every rank
// sees, for sites that give no port); a launcher without either gets an error saying what to set.
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace hmb::dist {

struct LaunchInfo {
  std::string launcher = "none";  // none | hep-mlbench | torchrun | env | openmpi | pmi | slurm
  std::string contract;           // the variables the ranks came from, e.g. "RANK WORLD_SIZE ..."
  int rank = 0, world = 1;
  int local_rank = 0, local_world = 1;  // within this node
  bool local_world_known = true;  // false: the launcher gave a local rank but not its node's
                                  // count, and local_world is local_rank + 1, a lower bound
  std::string master_addr;        // MASTER_ADDR (empty: not given)
  int master_port = 0;            // MASTER_PORT (0: not given)
  std::string rendezvous_file;    // HMB_RENDEZVOUS_FILE (empty: not given)
  bool agent_store = false;       // torchrun's agent already serves the TCP store at
                                  // MASTER_ADDR:MASTER_PORT (TORCHELASTIC_USE_AGENT_STORE=True):
                                  // every rank connects to it, none starts one
  int attempt = 0;                // torchrun's restart count (TORCHELASTIC_RESTART_COUNT): the
                                  // keys of each attempt live under their own prefix in its store

  bool multi_rank() const { return world > 1; }
  // "rank 1 of 4 (local 1 of 2), started by torchrun"
  std::string describe() const;
  // "127.0.0.1:29500" or "file /shared/rdv" or "" (one rank)
  std::string rendezvous() const;
};

// Reads one environment variable (nothing when unset); tests pass a map.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// The launch this process is part of. Throws hmb::Error naming the variable when a contract is
// present but inconsistent (a rank outside [0, world), a value that is not a number, several
// ranks and no rendezvous).
LaunchInfo detect_launch(const EnvLookup& env);
LaunchInfo detect_launch();  // from this process's environment

// A job size with no rank beside it (WORLD_SIZE=2 but no RANK, OMPI_COMM_WORLD_SIZE without its
// rank, ...): detect_launch then sees one process, which whoever set the size did not mean. The
// warning to give, or nothing. (Slurm's variables are left out: a batch script's own process has
// them without being a rank of a step.)
std::optional<std::string> lone_job_size_warning(const EnvLookup& env);
std::optional<std::string> lone_job_size_warning();

// Whether this process writes the job's report when the job fails before its ranks meet: rank 0,
// or a process that is no rank of a launch. When the launch variables cannot be read, their raw
// values decide: every process writes it but one whose rank reads as a number above 0 in a job
// of several (RANK=x or RANK=1 WORLD_SIZE=1 still leave a report).
bool reports_for_job(const EnvLookup& env);
bool reports_for_job();

// Whether this process is a rank that hep-mlbench's own launcher started (HMB_LAUNCHER, as
// child_environment sets it). Reads that one variable, so it answers even when the launch
// variables cannot be read.
bool started_by_own_launcher(const EnvLookup& env);
bool started_by_own_launcher();

// The environment that makes a child process rank `rank` of `world` on this node, started by
// hep-mlbench's own launcher, meeting the others through `rendezvous_file`.
std::vector<std::pair<std::string, std::string>> child_environment(int rank, int world,
                                                                   const std::string& rendezvous_file);

// Tells the launcher why this rank failed, where it asks (torchrun: the JSON file named by
// TORCHELASTIC_ERROR_FILE, whose message its failure summary shows instead of "<N/A>"). Does
// nothing without such a launcher; a file that cannot be written is skipped (the log and the
// report already hold the reason).
void tell_launcher(const std::string& reason);

// NCCL moves data between the GPUs of one node through shared memory (/dev/shm), which Docker
// limits to 64 MB: with several GPU ranks on a node and less than kMinSharedMemoryBytes there,
// the warning to give (what was found and what to do); nothing otherwise. `shm_bytes` < 0: the
// size is unknown (no /dev/shm), which is not warned about.
constexpr long long kMinSharedMemoryBytes = 512LL << 20;
std::optional<std::string> shared_memory_warning(int local_gpu_ranks, long long shm_bytes);
// The size of the file system at `path` in bytes (statvfs), or -1 when it cannot be read.
long long file_system_bytes(const std::string& path);

}  // namespace hmb::dist
