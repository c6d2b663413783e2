// CPU-only build of cuda_info.hpp (HMB_WITH_CUDA=OFF): says that the CUDA path is not built.
#include "gpu/cuda_info.hpp"

namespace hmb::gpu {

bool built_with_cuda() { return false; }

void reset_peak_device_memory(int /*device*/) {}
std::optional<double> peak_device_memory_mb(int /*device*/) { return std::nullopt; }

std::vector<DeviceInfo> cuda_devices() { return {}; }
std::string cuda_driver_version() { return "not queried (CPU-only build)"; }

DriverCheck check_cuda_driver() {
  return {DriverCheck::Verdict::no_driver, "hep-mlbench was built without its CUDA path (HMB_WITH_CUDA=OFF): CPU only"};
}

std::vector<LibraryVersion> cuda_library_versions() {
  const std::string off = "not built (HMB_WITH_CUDA=OFF)";
  return {{"CUDA runtime", off, "-"}, {"cuDNN", off, "-"}, {"NCCL", off, "-"},
          {"CUPTI", off, "-"},        {"NVML", off, "-"}};
}

}  // namespace hmb::gpu
