#pragma once
// The NCCL backend of the process group, built only with the CUDA path (the stub beside it says
// why it is missing otherwise). Kept apart so that the rest of the stage compiles without CUDA.
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>

namespace hmb::dist {

bool nccl_backend_built();

// Makes `device_index` the calling thread's current CUDA device, as make_nccl_backend does for
// its own thread (nothing without the CUDA path).
void use_nccl_device(int device_index);

// NCCL over the ranks of `store`, rank `rank` on CUDA device `device_index`. A collective that
// does not finish within `timeout` (a peer that died or hangs) is aborted by LibTorch's NCCL
// watchdog thread. What happens next is LibTorch's TORCH_NCCL_ASYNC_ERROR_HANDLING: its default
// (3) takes the whole process down from the watchdog thread (SIGABRT: no report, no reason for
// the launcher). Unless the environment sets it, hep-mlbench sets 2 (abort the communicator,
// keep the process): the aborted collective's kernels end, the next collective fails with
// "communicator was aborted", and the run ends with an error and a report that say so.
// (Reasoned from LibTorch's sources; not yet run on a node whose peer failed.)
c10::intrusive_ptr<c10d::Backend> make_nccl_backend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world,
                                                    int device_index, std::chrono::milliseconds timeout);

}  // namespace hmb::dist
