// NCCL for GPU ranks: LibTorch's ProcessGroupNCCL, bound to this rank's device.
#include "dist/process_group_nccl.hpp"

#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include <cstdlib>

namespace hmb::dist {

bool nccl_backend_built() { return true; }

void use_nccl_device(int device_index) { c10::cuda::set_device(static_cast<c10::DeviceIndex>(device_index)); }

c10::intrusive_ptr<c10d::Backend> make_nccl_backend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world,
                                                    int device_index, std::chrono::milliseconds timeout) {
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(device_index));
  // Read by the group's constructor: a timed-out collective aborts the communicator and leaves
  // the process to report it (2, CleanUpOnly), not the default teardown from the watchdog thread.
  // A value the user set (either name LibTorch reads) stays.
  if (std::getenv("TORCH_NCCL_ASYNC_ERROR_HANDLING") == nullptr && std::getenv("NCCL_ASYNC_ERROR_HANDLING") == nullptr)
    setenv("TORCH_NCCL_ASYNC_ERROR_HANDLING", "2", 0);
  auto opts = c10d::ProcessGroupNCCL::Options::create();
  opts->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, opts);
}

}  // namespace hmb::dist
