#pragma once
// Versions of the CUDA-side libraries, built against and found at run time. Implemented in
// cuda_info.cpp when hep-mlbench is built with HMB_WITH_CUDA, else by cuda_info_stub.cpp.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gpu/driver_check.hpp"

namespace hmb::gpu {

struct LibraryVersion {
  std::string name;      // "CUDA runtime", "NCCL", ...
  std::string built;     // the headers hep-mlbench was compiled with ("-" when not built)
  std::string runtime;   // what this process finds ("no driver", "not loaded", ...)
};

// CUDA runtime and driver, cuDNN, NCCL, CUPTI and NVML, then one entry per visible GPU
// ({"GPU 0", "-", "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)"}).
std::vector<LibraryVersion> cuda_library_versions();

// One CUDA device as the runtime describes it.
struct DeviceInfo {
  int index = 0;
  std::string name;                 // "NVIDIA H100 80GB HBM3"
  double memory_gib = 0;            // total device memory
  std::string compute_capability;   // "9.0"
  int multiprocessors = 0;
};

// The CUDA devices this process sees (none without a driver or in a CPU-only build), and the
// driver's CUDA version ("13.0", or "no driver").
std::vector<DeviceInfo> cuda_devices();
std::string cuda_driver_version();

// This machine's driver against the CUDA runtime LibTorch loads (driver_check.hpp). Call it
// before the first CUDA use of a run that asked for GPUs: a too_old verdict is an error whose
// message names both versions and what to do. The CPU-only build answers no_driver.
DriverCheck check_cuda_driver();

// True when hep-mlbench was compiled with its CUDA path.
bool built_with_cuda();

// Device memory of the training process on CUDA device `device`, from LibTorch's caching
// allocator: the peak of the bytes held by tensors since the last reset, in MiB. Nothing in a
// CPU-only build.
void reset_peak_device_memory(int device);
std::optional<double> peak_device_memory_mb(int device);

}  // namespace hmb::gpu
