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
// does not finish within `timeout` aborts the communicator (NCCL's watchdog), so a hung rank
// ends the job instead of holding it.
c10::intrusive_ptr<c10d::Backend> make_nccl_backend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world,
                                                    int device_index, std::chrono::milliseconds timeout);

}  // namespace hmb::dist
