#pragma once
// Peak arithmetic of known GPUs per training precision, from scripts/gpu_peaks.json (embedded
// in the binary at configure time; the same table scripts/gpu_check.sh reads). The first row
// whose `match` (a regular expression, case-insensitive) is found in the device name wins.
#include <optional>
#include <string>

namespace hmb::metrics {

struct GpuPeak {
  std::string row;           // the table's name of the GPU, e.g. "A100 (SXM4 and PCIe, 40 and 80 GB)"
  double flop_per_s = 0;     // dense peak for the precision
};

// From `table_json` (the file's text); nothing when the device or its precision is not in the
// table, with `why` saying which. A malformed table is an hmb::Error.
std::optional<GpuPeak> find_gpu_peak(const std::string& table_json, const std::string& device_name,
                                     const std::string& precision, std::string& why);
// From the embedded table.
std::optional<GpuPeak> find_gpu_peak(const std::string& device_name, const std::string& precision, std::string& why);

}  // namespace hmb::metrics
