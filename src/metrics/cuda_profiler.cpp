// The CUDA runtime's profiler API behind ProfilerRange (a build with the CUDA path).
#if __has_include(<cuda_profiler_api.h>)
#include <cuda_profiler_api.h>
#else
// The torch wheel's CUDA runtime headers leave this one out; libcudart has both functions.
#include <cuda_runtime_api.h>
extern "C" cudaError_t cudaProfilerStart(void);
extern "C" cudaError_t cudaProfilerStop(void);
#endif

#include "metrics/profiler_range.hpp"

namespace hmb::metrics {
namespace {
class CudaProfilerApi final : public ProfilerApi {
 public:
  void start() override { cudaProfilerStart(); }
  void stop() override { cudaProfilerStop(); }
};
}  // namespace

std::unique_ptr<ProfilerApi> make_cuda_profiler_api(std::string& /*why*/) {
  return std::make_unique<CudaProfilerApi>();
}

}  // namespace hmb::metrics
