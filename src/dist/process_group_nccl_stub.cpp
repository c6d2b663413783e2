// Builds without the CUDA path have no NCCL backend: asking for it is an error that says so.
#include "dist/process_group_nccl.hpp"

#include "util/error.hpp"

namespace hmb::dist {

bool nccl_backend_built() { return false; }

void use_nccl_device(int /*device_index*/) {}

c10::intrusive_ptr<c10d::Backend> make_nccl_backend(const c10::intrusive_ptr<c10d::Store>& /*store*/, int /*rank*/,
                                                    int /*world*/, int /*device_index*/,
                                                    std::chrono::milliseconds /*timeout*/) {
  throw Error("dist: this hep-mlbench was built without the CUDA path and has no NCCL backend; train on CPU ranks "
              "(--gpus cpu, Gloo) or rebuild with CUDA");
}

}  // namespace hmb::dist
