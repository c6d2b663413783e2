#pragma once
// hep-mlbench's own launcher: `train --nproc N` (CPU ranks) and `train --gpus N|all` on a node
// with several GPUs start N processes of the same command line on this node, like
// `torchrun --nproc-per-node N` would, and supervise them:
//
//   - rank i gets RANK/WORLD_SIZE/LOCAL_RANK/LOCAL_WORLD_SIZE and a rendezvous file in a fresh
//     temporary folder (no port to choose); GPU ranks train on GPU i;
//   - CPU ranks get disjoint blocks of cores (NUMA node by NUMA node), set as their affinity;
//   - a stop signal to the launcher goes to every rank; a rank that fails makes the launcher
//     stop the others (SIGTERM, then SIGKILL after a grace period), and a launcher that dies
//     takes its ranks with it (parent-death signal), so no rank is left behind;
//   - rank 0 writes the one report; when a rank failed, the report says which and why.
#include <string>
#include <vector>

namespace hmb::app {

struct LocalLaunch {
  int ranks = 1;
  bool gpus = false;            // one rank per GPU
  int threads_per_rank = 0;     // CPU threads of each rank (0: the cores divided among the ranks)
  std::string results;          // the run's results folder (rank 0's report, ranks' logs); empty:
                                // the ranks share this console and there is no report to amend
  double grace_s = 30;          // after a rank failed: how long the others get to stop
};

// Cores for each of `ranks` ranks: disjoint blocks of `threads` cores from `cpus`, taken in the
// order of `numa_node` (the node of each entry of `cpus`), so that a block stays on one node when
// it can. Fewer cores than ranks x threads: every rank gets all of `cpus` (shared, not pinned).
std::vector<std::vector<int>> plan_cores(const std::vector<int>& cpus, const std::vector<int>& numa_node, int ranks,
                                         int threads);

// Starts the ranks with this process's own command line and waits for all of them. Returns the
// exit status of the job: 0 when every rank succeeded.
int launch_local(const LocalLaunch& launch);

}  // namespace hmb::app
