#pragma once
// The multi-rank communicator: LibTorch's c10d process group (Gloo for CPU ranks, NCCL for GPU
// ranks) reached through a TCP store on MASTER_ADDR:MASTER_PORT or a file store, and c10d's
// bucketing gradient reducer for the gradients.
#include <chrono>
#include <memory>
#include <string>

#include "dist/communicator.hpp"
#include "dist/launch.hpp"

namespace hmb::dist {

struct ConnectOptions {
  std::string backend = "gloo";             // gloo | nccl
  int device_index = -1;                    // the CUDA device of this rank (nccl), -1 on the CPU
  std::chrono::milliseconds timeout{300000};  // rendezvous and every collective
};

// Meets the other ranks of `launch` and returns the communicator over all of them. Throws
// hmb::Error naming the rendezvous (address or file), the rank and the timeout when the others
// cannot be reached in time: a rank that cannot reach the store, or whose peers do not all come,
// fails within opts.timeout and a few seconds; forming the process group once they are all there
// has a timeout of its own. A rendezvous file in a folder that is missing or not writable fails
// at once. A stop signal (stop_requested()) while it waits throws hmb::Interrupted within a
// tenth of a second.
//
// The waiting is done on a helper thread, because c10d's calls cannot be cut short. When the
// caller gives up (a timeout, a stop), that thread is left to end by itself, which may take
// until c10d's own timeouts, or longer for a store that never answers: the process should end
// through std::_Exit, as a failed rank does, rather than by returning from main().
std::unique_ptr<Communicator> connect(const LaunchInfo& launch, const ConnectOptions& opts);

// For tests: waits up to `limit` for the helper threads of the meetings connect() gave up on to
// end; true when none is left.
bool wait_for_abandoned_meetings(std::chrono::milliseconds limit);

// The backend for `--dist-backend OPTION` ("auto", "gloo", "nccl") on a rank that trains on a GPU
// (`cuda`) or on the CPU: auto picks nccl on GPUs and gloo on CPUs. Throws hmb::Error for a pair
// that cannot work: nccl without a GPU, or gloo with one (hep-mlbench's Gloo group carries CPU
// tensors only; its gradients live on the GPU).
std::string choose_backend(const std::string& option, bool cuda);

// Whether this build can train on several ranks with `backend` ("gloo", "nccl").
bool backend_available(const std::string& backend);

}  // namespace hmb::dist
