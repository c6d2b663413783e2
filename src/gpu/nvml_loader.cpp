#include "gpu/nvml_loader.hpp"

#include <dlfcn.h>
#include <nvml.h>

#include <string>

namespace hmb::gpu {

namespace {
template <class F>
F sym(void* lib, const char* name) {
  return reinterpret_cast<F>(dlsym(lib, name));
}
}  // namespace

LibraryVersion nvml_version() {
  LibraryVersion v{"NVML", "API " + std::to_string(NVML_API_VERSION), "no driver (libnvidia-ml.so.1 not found)"};
  void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) return v;
  auto init = sym<nvmlReturn_t (*)()>(lib, "nvmlInit_v2");
  auto shutdown = sym<nvmlReturn_t (*)()>(lib, "nvmlShutdown");
  auto get = sym<nvmlReturn_t (*)(char*, unsigned)>(lib, "nvmlSystemGetNVMLVersion");
  if (init && shutdown && get && init() == NVML_SUCCESS) {
    char buf[NVML_SYSTEM_NVML_VERSION_BUFFER_SIZE] = {};
    v.runtime = get(buf, sizeof buf) == NVML_SUCCESS ? buf : "unavailable";
    shutdown();
  } else {
    v.runtime = "driver library found, nvmlInit failed";
  }
  dlclose(lib);
  return v;
}

}  // namespace hmb::gpu
