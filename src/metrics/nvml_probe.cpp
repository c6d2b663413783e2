// make_nvml_probe() of a build with NVML: the driver's libnvidia-ml.so.1, loaded at run time
// (as gpu/nvml_loader.cpp does) so that the binary also starts where there is no driver. The
// CUDA device is matched to NVML's by PCI bus id: CUDA_VISIBLE_DEVICES renumbers CUDA's devices
// but not NVML's.
#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <nvml.h>

#include "metrics/power.hpp"

namespace hmb::metrics {

namespace {
template <class F>
F sym(void* lib, const char* name) {
  return reinterpret_cast<F>(dlsym(lib, name));
}

class NvmlProbe final : public GpuProbe {
 public:
  // Loads NVML and finds the device; on failure `why` says what is missing.
  NvmlProbe(int cuda_device, std::string& why) {
    lib_ = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib_ == nullptr) {
      why = "no GPU driver (libnvidia-ml.so.1 not found)";
      return;
    }
    auto init = sym<nvmlReturn_t (*)()>(lib_, "nvmlInit_v2");
    auto by_bus = sym<nvmlReturn_t (*)(const char*, nvmlDevice_t*)>(lib_, "nvmlDeviceGetHandleByPciBusId_v2");
    auto get_name = sym<nvmlReturn_t (*)(nvmlDevice_t, char*, unsigned)>(lib_, "nvmlDeviceGetName");
    error_string_ = sym<const char* (*)(nvmlReturn_t)>(lib_, "nvmlErrorString");
    power_ = sym<nvmlReturn_t (*)(nvmlDevice_t, unsigned*)>(lib_, "nvmlDeviceGetPowerUsage");
    energy_ = sym<nvmlReturn_t (*)(nvmlDevice_t, unsigned long long*)>(lib_, "nvmlDeviceGetTotalEnergyConsumption");
    memory_ = sym<nvmlReturn_t (*)(nvmlDevice_t, nvmlMemory_t*)>(lib_, "nvmlDeviceGetMemoryInfo");
    clock_ = sym<nvmlReturn_t (*)(nvmlDevice_t, nvmlClockType_t, unsigned*)>(lib_, "nvmlDeviceGetClockInfo");
    temperature_v_ = sym<nvmlReturn_t (*)(nvmlDevice_t, nvmlTemperature_t*)>(lib_, "nvmlDeviceGetTemperatureV");
    temperature_ = sym<nvmlReturn_t (*)(nvmlDevice_t, int, unsigned*)>(lib_, "nvmlDeviceGetTemperature");
    shutdown_ = sym<nvmlReturn_t (*)()>(lib_, "nvmlShutdown");
    if (init == nullptr || by_bus == nullptr || shutdown_ == nullptr) {
      why = "NVML: the driver's library lacks nvmlInit_v2 or nvmlDeviceGetHandleByPciBusId_v2";
      return;
    }
    if (const auto r = init(); r != NVML_SUCCESS) {
      why = "NVML: nvmlInit failed: " + text(r);
      return;
    }
    initialised_ = true;
    char bus[32] = {};
    if (cudaDeviceGetPCIBusId(bus, sizeof bus, cuda_device) != cudaSuccess) {
      why = "NVML: the PCI bus id of CUDA device " + std::to_string(cuda_device) + " is not known";
      return;
    }
    if (const auto r = by_bus(bus, &device_); r != NVML_SUCCESS) {
      why = std::string("NVML: no device at PCI bus id ") + bus + ": " + text(r);
      return;
    }
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE] = {};
    if (get_name != nullptr && get_name(device_, name, sizeof name) == NVML_SUCCESS) name_ = name;
    ok_ = true;
  }

  ~NvmlProbe() override {
    if (initialised_) shutdown_();
    if (lib_ != nullptr) dlclose(lib_);
  }

  bool ok() const { return ok_; }
  std::string name() const override { return name_; }

  GpuReading read() override {
    GpuReading g;
    unsigned u = 0;
    unsigned long long ull = 0;
    if (power_ && power_(device_, &u) == NVML_SUCCESS) g.power_w = u / 1e3;  // mW
    if (energy_ && energy_(device_, &ull) == NVML_SUCCESS) g.energy_mj = static_cast<double>(ull);
    nvmlMemory_t m{};
    if (memory_ && memory_(device_, &m) == NVML_SUCCESS) g.memory_used_mb = static_cast<double>(m.used) / (1024.0 * 1024.0);
    if (clock_ && clock_(device_, NVML_CLOCK_SM, &u) == NVML_SUCCESS) g.sm_clock_mhz = u;
    nvmlTemperature_t t{};
    t.version = nvmlTemperature_v1;
    t.sensorType = NVML_TEMPERATURE_GPU;
    if (temperature_v_ && temperature_v_(device_, &t) == NVML_SUCCESS) {
      g.temperature_c = t.temperature;
    } else if (temperature_ && temperature_(device_, NVML_TEMPERATURE_GPU, &u) == NVML_SUCCESS) {
      g.temperature_c = u;
    }
    return g;
  }

 private:
  std::string text(nvmlReturn_t r) const {
    const char* s = error_string_ ? error_string_(r) : nullptr;
    return s != nullptr ? s : "NVML error " + std::to_string(static_cast<int>(r));
  }

  void* lib_ = nullptr;
  bool initialised_ = false, ok_ = false;
  nvmlDevice_t device_{};
  std::string name_ = "unknown GPU";
  const char* (*error_string_)(nvmlReturn_t) = nullptr;
  nvmlReturn_t (*power_)(nvmlDevice_t, unsigned*) = nullptr;
  nvmlReturn_t (*energy_)(nvmlDevice_t, unsigned long long*) = nullptr;
  nvmlReturn_t (*memory_)(nvmlDevice_t, nvmlMemory_t*) = nullptr;
  nvmlReturn_t (*clock_)(nvmlDevice_t, nvmlClockType_t, unsigned*) = nullptr;
  nvmlReturn_t (*temperature_v_)(nvmlDevice_t, nvmlTemperature_t*) = nullptr;
  nvmlReturn_t (*temperature_)(nvmlDevice_t, int, unsigned*) = nullptr;
  nvmlReturn_t (*shutdown_)() = nullptr;
};
}  // namespace

std::unique_ptr<GpuProbe> make_nvml_probe(int cuda_device, std::string& why) {
  if (cuda_device < 0) {
    why = "no GPU";
    return nullptr;
  }
  auto p = std::make_unique<NvmlProbe>(cuda_device, why);
  if (!p->ok()) return nullptr;
  return p;
}

}  // namespace hmb::metrics
