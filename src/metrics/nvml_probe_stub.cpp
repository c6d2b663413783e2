// make_nvml_probe() of a build without NVML (HMB_WITH_NVML=OFF).
#include "metrics/power.hpp"

namespace hmb::metrics {

std::unique_ptr<GpuProbe> make_nvml_probe(int /*cuda_device*/, std::string& why) {
  why = "built without NVML (HMB_WITH_NVML=OFF)";
  return nullptr;
}

}  // namespace hmb::metrics
