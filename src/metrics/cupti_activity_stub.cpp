// make_gpu_activity() of a build without CUPTI (HMB_WITH_CUPTI=OFF).
#include "metrics/gpu_activity.hpp"

namespace hmb::metrics {

std::unique_ptr<GpuActivity> make_gpu_activity(bool on_gpu, bool enabled, bool /*keep_trace*/) {
  if (!on_gpu) return std::make_unique<AbsentGpuActivity>("no GPU");
  if (!enabled) return std::make_unique<AbsentGpuActivity>("turned off (--gpu-activity false)");
  return std::make_unique<AbsentGpuActivity>("built without CUPTI (HMB_WITH_CUPTI=OFF)");
}

}  // namespace hmb::metrics
