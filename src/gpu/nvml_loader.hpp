#pragma once
// NVML is the driver's library (libnvidia-ml.so.1): it exists only where a GPU driver is
// installed. hep-mlbench loads it at run time (dlopen) so that the same binary starts on
// machines without one. nvml_loader.cpp (HMB_WITH_NVML) or nvml_loader_stub.cpp.
#include "gpu/cuda_info.hpp"

namespace hmb::gpu {

// NVML's version as {"NVML", built against, found at run time}.
LibraryVersion nvml_version();

}  // namespace hmb::gpu
