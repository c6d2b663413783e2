#include "train/gpu_devices.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

#include "util/error.hpp"

namespace hmb::train {

std::vector<int> parse_gpu_devices(const std::string& list) {
  std::vector<int> devices;
  if (list.empty()) return devices;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find_first_of(",_", start);
    if (end == std::string::npos) end = list.size();
    const std::string item = list.substr(start, end - start);
    char* stop = nullptr;
    const long n = std::strtol(item.c_str(), &stop, 10);
    require(!item.empty() && *stop == '\0' && n >= 0 && n < 4096,
            "option --gpu-devices: '" + list + "' is not a list of GPU numbers such as 0,1 or 0_1 ('" + item +
                "' is not a GPU number)");
    require(std::find(devices.begin(), devices.end(), static_cast<int>(n)) == devices.end(),
            "option --gpu-devices: '" + list + "' names GPU " + item + " twice");
    devices.push_back(static_cast<int>(n));
    start = end + 1;
  }
  return devices;
}

std::string visible_devices_for(const std::string& list, const char* current) {
  const auto devices = parse_gpu_devices(list);
  std::vector<std::string> seen;  // what the numbers index
  if (current != nullptr) {
    std::string entries = current;
    size_t start = 0;
    while (start < entries.size()) {
      size_t end = entries.find(',', start);
      if (end == std::string::npos) end = entries.size();
      seen.push_back(entries.substr(start, end - start));
      start = end + 1;
    }
  }
  std::string out;
  for (int d : devices) {
    std::string entry = std::to_string(d);
    if (current != nullptr) {
      require(d < static_cast<int>(seen.size()),
              "option --gpu-devices: GPU " + std::to_string(d) + " is not among the " + std::to_string(seen.size()) +
                  " GPU(s) this process may use (CUDA_VISIBLE_DEVICES=" + std::string(current) +
                  "; --gpu-devices counts them from 0)");
      entry = seen[static_cast<size_t>(d)];
    }
    out += (out.empty() ? "" : ",") + entry;
  }
  return out;
}

std::string apply_gpu_devices(const std::string& list) {
  if (list.empty()) return "";
  constexpr const char* kApplied = "HMB_GPU_DEVICES_APPLIED";  // set beside it for the ranks we start
  const char* current = std::getenv("CUDA_VISIBLE_DEVICES");
  const char* applied = std::getenv(kApplied);
  if (current != nullptr && applied != nullptr && std::string(current) == applied) return "";
  const std::string value = visible_devices_for(list, current);
  ::setenv("CUDA_VISIBLE_DEVICES", value.c_str(), 1);
  ::setenv(kApplied, value.c_str(), 1);
  spdlog::info("device: --gpu-devices {}: CUDA_VISIBLE_DEVICES={}", list, value);
  return value;
}

}  // namespace hmb::train
