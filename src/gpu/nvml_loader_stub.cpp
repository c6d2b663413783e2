// Build without NVML (HMB_WITH_NVML=OFF).
#include "gpu/nvml_loader.hpp"

namespace hmb::gpu {

LibraryVersion nvml_version() { return {"NVML", "off (HMB_WITH_NVML=OFF)", "-"}; }

}  // namespace hmb::gpu
