#pragma once
// One reported figure that may be absent: a value with its unit, or no value and the reason
// (no GPU, built without NVML, CUPTI held by another profiler, ...). A measurement that cannot
// be made never fails a run: it becomes a Figure without a value.
#include <optional>
#include <string>
#include <utility>

namespace hmb::metrics {

struct Figure {
  std::optional<double> value;
  std::string unit;
  std::string reason;   // why there is no value (empty when there is one)
  std::string source;   // where the value came from, when that matters (peak, energy)

  static Figure of(double v, std::string unit, std::string source = "") {
    return Figure{v, std::move(unit), "", std::move(source)};
  }
  static Figure absent(std::string unit, std::string reason) {
    return Figure{std::nullopt, std::move(unit), std::move(reason), ""};
  }
  // `v` when present, else absent with `reason`.
  static Figure maybe(const std::optional<double>& v, std::string unit, std::string reason) {
    return v ? of(*v, std::move(unit)) : absent(std::move(unit), std::move(reason));
  }
  bool has_value() const { return value.has_value(); }
};

}  // namespace hmb::metrics
