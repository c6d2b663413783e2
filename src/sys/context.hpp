#pragma once
// The machine a run measured: CPU model and cores, host memory, GPUs and driver. Printed at
// start-up and stored in the report (`context.system`), because a throughput means nothing
// without the hardware it was measured on.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "gpu/cuda_info.hpp"

namespace hmb::sys {

struct CpuInfo {
  std::string model = "unknown";  // /proc/cpuinfo "model name"
  int logical_cores = 0;          // processors the OS lists
  int physical_cores = 0;         // distinct (physical id, core id) pairs; 0 when not listed
  int sockets = 0;                // distinct physical ids; 0 when not listed
};

struct SystemContext {
  CpuInfo cpu;
  int usable_cores = 0;           // cores this process may run on (affinity mask, cgroup quota)
  int numa_nodes = 0;             // /sys/devices/system/node/node*; 0 when unknown
  double host_memory_gib = 0;     // MemTotal
  std::string kernel;             // uname -sr
  std::string cuda_driver;        // CUDA version the driver supports, or why there is none
  std::vector<gpu::DeviceInfo> gpus;
};

// Parses the text of /proc/cpuinfo (x86 and Arm layouts).
CpuInfo parse_cpuinfo(const std::string& text);
// MemTotal of /proc/meminfo in GiB (0 when absent).
double parse_meminfo_total_gib(const std::string& text);

// Reads everything above from this machine; never throws (unknown fields stay empty).
SystemContext collect_context();

nlohmann::json to_json(const SystemContext& c);
// Two or three lines for the start-up log: CPU, memory, GPUs.
std::vector<std::string> describe(const SystemContext& c);

}  // namespace hmb::sys
