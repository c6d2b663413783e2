#pragma once
// Peak device memory inside the timed window: the allocator's peak is reset when the window
// opens (after the warm-up, whose one-off allocations are not the steady state) and when it
// resumes after validation, and read when it pauses or ends; the figure is the largest reading.
// So validation's allocations stay out of it, and a window that ends paused (the last epoch's
// validation) is read all the same. Nothing on the CPU, where peak host memory is reported.
#include <algorithm>
#include <functional>
#include <optional>
#include <utility>

#include "gpu/cuda_info.hpp"
#include "metrics/window.hpp"

namespace hmb::metrics {

class DeviceMemoryMeter final : public WindowObserver {
 public:
  using Reset = std::function<void(int)>;
  using Peak = std::function<std::optional<double>(int)>;
  // `cuda_device`: the CUDA device index, or -1 on the CPU. `reset` and `peak` reach the
  // allocator (tests give fakes).
  explicit DeviceMemoryMeter(int cuda_device, Reset reset = gpu::reset_peak_device_memory,
                             Peak peak = gpu::peak_device_memory_mb)
      : device_(cuda_device), reset_(std::move(reset)), peak_(std::move(peak)) {}
  void begin(double /*t*/) override {
    if (device_ >= 0) reset_(device_);
  }
  void resume(double t) override { begin(t); }
  void pause(double /*t*/) override {
    if (device_ < 0) return;
    if (const auto p = peak_(device_)) peak_mb_ = std::max(peak_mb_.value_or(0.0), *p);
  }
  void end(double t) override { pause(t); }
  std::optional<double> peak_mb() const { return peak_mb_; }

 private:
  int device_;
  Reset reset_;
  Peak peak_;
  std::optional<double> peak_mb_;
};

}  // namespace hmb::metrics
