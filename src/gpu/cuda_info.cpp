// CUDA path of cuda_info.hpp (built with HMB_WITH_CUDA). No call here needs a GPU or a driver:
// each query reports "no driver" or "unavailable" instead of failing.
#include "gpu/cuda_info.hpp"

#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda.h>
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstdio>
#include <string>

#include "gpu/nvml_loader.hpp"

#ifdef HMB_HAVE_CUPTI
#include <cupti.h>
#endif

namespace hmb::gpu {

namespace {
// CUDA encodes versions as 1000*major + 10*minor.
std::string cuda_version_string(int v) {
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}
}  // namespace

bool built_with_cuda() { return true; }

DriverCheck check_cuda_driver() {
  int drv = 0;
  if (cudaDriverGetVersion(&drv) != cudaSuccess) drv = 0;
  // The runtime actually loaded (the torch wheel's libcudart), else the headers' version.
  int rt = 0;
  if (cudaRuntimeGetVersion(&rt) != cudaSuccess || rt <= 0) rt = CUDART_VERSION;
  return check_driver_against_runtime(drv, rt);
}

void reset_peak_device_memory(int device) {
  c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(device));
}

std::optional<double> peak_device_memory_mb(int device) {
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
  const auto& bytes = stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)];
  return static_cast<double>(bytes.peak) / (1024.0 * 1024.0);
}

std::vector<DeviceInfo> cuda_devices() {
  std::vector<DeviceInfo> out;
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();  // no driver or no device: not an error for the caller
    return out;
  }
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    DeviceInfo d;
    d.index = i;
    d.name = p.name;
    d.memory_gib = static_cast<double>(p.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0);
    d.compute_capability = std::to_string(p.major) + "." + std::to_string(p.minor);
    d.multiprocessors = p.multiProcessorCount;
    out.push_back(std::move(d));
  }
  return out;
}

std::string cuda_driver_version() {
  int drv = 0;
  if (cudaDriverGetVersion(&drv) == cudaSuccess && drv > 0) return cuda_version_string(drv);
  return "no driver";
}

std::vector<LibraryVersion> cuda_library_versions() {
  std::vector<LibraryVersion> out;

  int rt = 0;
  std::string rt_s = cudaRuntimeGetVersion(&rt) == cudaSuccess ? cuda_version_string(rt) : "unavailable";
  out.push_back({"CUDA runtime", cuda_version_string(CUDART_VERSION), rt_s});

  int drv = 0;
  std::string drv_s = "no driver";
  if (cudaDriverGetVersion(&drv) == cudaSuccess && drv > 0) drv_s = cuda_version_string(drv);
  out.push_back({"CUDA driver", "-", drv_s});

  // cuDNN is loaded by LibTorch; ask it which one (0 when LibTorch has no CUDA hooks).
  std::string cudnn = "not loaded";
  try {
    const auto& hooks = at::detail::getCUDAHooks();
    if (hooks.hasCuDNN()) {
      long v = hooks.versionCuDNN();
      cudnn = std::to_string(v / 10000) + "." + std::to_string((v % 10000) / 100) + "." +
              std::to_string(v % 100);
    }
  } catch (const std::exception&) {
  }
  out.push_back({"cuDNN", "-", cudnn});

  int nccl = 0;
  std::string nccl_s = "unavailable";
  if (ncclGetVersion(&nccl) == ncclSuccess) {
    nccl_s = std::to_string(nccl / 10000) + "." + std::to_string((nccl % 10000) / 100) + "." +
             std::to_string(nccl % 100);
  }
  out.push_back({"NCCL",
                 std::to_string(NCCL_MAJOR) + "." + std::to_string(NCCL_MINOR) + "." +
                     std::to_string(NCCL_PATCH),
                 nccl_s});

#ifdef HMB_HAVE_CUPTI
  // CUPTI needs the driver: without libcuda.so.1 even cuptiGetVersion() crashes, so ask it
  // only when a driver answered above.
  std::string cupti_s = "not queried (no driver)";
  if (drv > 0) {
    uint32_t cupti = 0;
    cupti_s = cuptiGetVersion(&cupti) == CUPTI_SUCCESS ? "API " + std::to_string(cupti) : "unavailable";
  }
  out.push_back({"CUPTI", "API " + std::to_string(CUPTI_API_VERSION), cupti_s});
#else
  out.push_back({"CUPTI", "off (HMB_WITH_CUPTI=OFF)", "-"});
#endif

  out.push_back(nvml_version());

  // The GPUs themselves, asked only when the driver can run this runtime.
  const auto driver = check_cuda_driver();
  int count = 0;
  if (driver.verdict == DriverCheck::Verdict::no_driver) {
    out.push_back({"GPU", "-", "none (no NVIDIA driver)"});
  } else if (driver.verdict == DriverCheck::Verdict::too_old) {
    out.push_back({"GPU", "-", "not usable: " + driver.message});
  } else if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    out.push_back({"GPU", "-", "none visible"});
  } else {
    for (int d = 0; d < count; ++d) {
      cudaDeviceProp p{};
      if (cudaGetDeviceProperties(&p, d) != cudaSuccess) continue;
      char mem[32];
      std::snprintf(mem, sizeof mem, "%.1f GiB", static_cast<double>(p.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
      out.push_back({"GPU " + std::to_string(d), "-",
                     std::string(p.name) + " (sm_" + std::to_string(p.major) + std::to_string(p.minor) + ", " + mem + ")"});
    }
  }
  return out;
}

}  // namespace hmb::gpu
