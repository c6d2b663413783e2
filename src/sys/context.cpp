#include "sys/context.hpp"

#include <sched.h>
#include <sys/utsname.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include <spdlog/spdlog.h>

namespace hmb::sys {

namespace {
std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t");
  const auto e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}
}  // namespace

CpuInfo parse_cpuinfo(const std::string& text) {
  CpuInfo c;
  std::set<std::pair<std::string, std::string>> cores;
  std::set<std::string> sockets;
  std::string physical_id;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = trim(line.substr(0, colon)), value = trim(line.substr(colon + 1));
    if (key == "processor") {
      ++c.logical_cores;
    } else if ((key == "model name" || key == "Model") && c.model == "unknown" && !value.empty()) {
      c.model = value;
    } else if (key == "physical id") {
      physical_id = value;
      sockets.insert(value);
    } else if (key == "core id") {
      cores.emplace(physical_id, value);
    }
  }
  c.physical_cores = static_cast<int>(cores.size());
  c.sockets = static_cast<int>(sockets.size());
  return c;
}

double parse_meminfo_total_gib(const std::string& text) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("MemTotal:", 0) != 0) continue;
    std::istringstream fields(line.substr(9));
    double kib = 0;
    fields >> kib;
    return kib / (1024.0 * 1024.0);
  }
  return 0;
}

SystemContext collect_context() {
  SystemContext c;
  c.cpu = parse_cpuinfo(read_text("/proc/cpuinfo"));
  if (c.cpu.logical_cores == 0) c.cpu.logical_cores = static_cast<int>(std::thread::hardware_concurrency());
  cpu_set_t set;
  CPU_ZERO(&set);
  c.usable_cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : c.cpu.logical_cores;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/sys/devices/system/node", ec)) {
    const auto name = e.path().filename().string();
    if (name.rfind("node", 0) == 0 && name.size() > 4 && std::isdigit(static_cast<unsigned char>(name[4]))) ++c.numa_nodes;
  }
  c.host_memory_gib = parse_meminfo_total_gib(read_text("/proc/meminfo"));
  utsname u{};
  if (uname(&u) == 0) c.kernel = std::string(u.sysname) + " " + u.release;
  c.cuda_driver = gpu::cuda_driver_version();
  c.gpus = gpu::cuda_devices();
  return c;
}

nlohmann::json to_json(const SystemContext& c) {
  nlohmann::json gpus = nlohmann::json::array();
  for (const auto& g : c.gpus)
    gpus.push_back({{"index", g.index},
                    {"name", g.name},
                    {"memory_gib", g.memory_gib},
                    {"compute_capability", g.compute_capability},
                    {"multiprocessors", g.multiprocessors}});
  return {{"cpu_model", c.cpu.model},
          {"logical_cores", c.cpu.logical_cores},
          {"physical_cores", c.cpu.physical_cores},
          {"sockets", c.cpu.sockets},
          {"usable_cores", c.usable_cores},
          {"numa_nodes", c.numa_nodes},
          {"host_memory_gib", c.host_memory_gib},
          {"kernel", c.kernel},
          {"cuda_driver", c.cuda_driver},
          {"gpus", gpus}};
}

std::vector<std::string> describe(const SystemContext& c) {
  std::vector<std::string> lines;
  lines.push_back(fmt::format("CPU {} ({} logical cores{}, {} usable by this process{})", c.cpu.model,
                              c.cpu.logical_cores,
                              c.cpu.physical_cores > 0 ? fmt::format(", {} physical", c.cpu.physical_cores) : "",
                              c.usable_cores,
                              c.numa_nodes > 1 ? fmt::format(", {} NUMA nodes", c.numa_nodes) : ""));
  lines.push_back(fmt::format("host memory {:.1f} GiB; {}", c.host_memory_gib, c.kernel));
  if (c.gpus.empty()) {
    lines.push_back("GPUs: none visible (CUDA driver: " + c.cuda_driver + ")");
  } else {
    for (const auto& g : c.gpus)
      lines.push_back(fmt::format("GPU {}: {} ({:.1f} GiB, compute capability {}, {} SMs); CUDA driver {}", g.index,
                                  g.name, g.memory_gib, g.compute_capability, g.multiprocessors, c.cuda_driver));
  }
  return lines;
}

}  // namespace hmb::sys
