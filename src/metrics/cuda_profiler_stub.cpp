// make_cuda_profiler_api() of a CPU-only build (HMB_WITH_CUDA=OFF).
#include "metrics/profiler_range.hpp"

namespace hmb::metrics {

std::unique_ptr<ProfilerApi> make_cuda_profiler_api(std::string& why) {
  why = "built without the CUDA path (HMB_WITH_CUDA=OFF)";
  return nullptr;
}

}  // namespace hmb::metrics
