#pragma once
// Versions of the CUDA-side libraries, built against and found at run time. Implemented in
// cuda_info.cpp when hep-mlbench is built with HMB_WITH_CUDA, else by cuda_info_stub.cpp.
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hmb::gpu {

struct LibraryVersion {
  std::string name;      // "CUDA runtime", "NCCL", ...
  std::string built;     // the headers hep-mlbench was compiled with ("-" when not built)
  std::string runtime;   // what this process finds ("no driver", "not loaded", ...)
};

// CUDA runtime and driver, cuDNN, NCCL, CUPTI and NVML.
std::vector<LibraryVersion> cuda_library_versions();

// True when hep-mlbench was compiled with its CUDA path.
bool built_with_cuda();

// Device memory of the training process on CUDA device `device`, from LibTorch's caching
// allocator: the peak of the bytes held by tensors since the last reset, in MiB. Nothing in a
// CPU-only build.
void reset_peak_device_memory(int device);
std::optional<double> peak_device_memory_mb(int device);

}  // namespace hmb::gpu
