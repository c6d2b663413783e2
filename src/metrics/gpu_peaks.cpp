#include "metrics/gpu_peaks.hpp"

#include <nlohmann/json.hpp>

#include <regex>

#include "metrics/gpu_peaks_json.hpp"
#include "util/error.hpp"

namespace hmb::metrics {

std::optional<GpuPeak> find_gpu_peak(const std::string& table_json, const std::string& device_name,
                                     const std::string& precision, std::string& why) {
  nlohmann::json table;
  try {
    table = nlohmann::json::parse(table_json);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("GPU peak table: not JSON: ") + e.what());
  }
  require(table.contains("gpus") && table["gpus"].is_array(), "GPU peak table: no 'gpus' list");
  const double scale = table.value("unit", std::string("TFLOP/s")) == "TFLOP/s" ? 1e12 : 1.0;
  for (const auto& row : table["gpus"]) {
    const auto match = row.value("match", std::string());
    require(!match.empty(), "GPU peak table: a row without 'match'");
    std::regex re;
    try {
      re = std::regex(match, std::regex::ECMAScript | std::regex::icase);
    } catch (const std::regex_error& e) {
      throw Error("GPU peak table: bad 'match' regular expression '" + match + "': " + e.what());
    }
    if (!std::regex_search(device_name, re)) continue;
    const auto name = row.value("name", match);
    const auto& tflops = row.value("tflops", nlohmann::json::object());
    if (!tflops.contains(precision) || !tflops[precision].is_number()) {
      why = "no " + precision + " peak for " + name + " in the GPU peak table";
      return std::nullopt;
    }
    return GpuPeak{name, tflops[precision].get<double>() * scale};
  }
  why = "unknown GPU '" + device_name + "': not in the GPU peak table (scripts/gpu_peaks.json)";
  return std::nullopt;
}

std::optional<GpuPeak> find_gpu_peak(const std::string& device_name, const std::string& precision, std::string& why) {
  return find_gpu_peak(kGpuPeaksJson, device_name, precision, why);
}

}  // namespace hmb::metrics
