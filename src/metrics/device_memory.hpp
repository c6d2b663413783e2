#pragma once
// Peak device memory inside the timed window: the allocator's peak is reset when the window
// opens (after the warm-up, whose one-off allocations are not the steady state) and read when
// it ends. Nothing on the CPU, where peak host memory is reported instead.
#include <optional>

#include "gpu/cuda_info.hpp"
#include "metrics/window.hpp"

namespace hmb::metrics {

class DeviceMemoryMeter final : public WindowObserver {
 public:
  // `cuda_device`: the CUDA device index, or -1 on the CPU.
  explicit DeviceMemoryMeter(int cuda_device) : device_(cuda_device) {}
  void begin(double /*t*/) override {
    if (device_ >= 0) gpu::reset_peak_device_memory(device_);
  }
  void end(double /*t*/) override {
    if (device_ >= 0) peak_mb_ = gpu::peak_device_memory_mb(device_);
  }
  std::optional<double> peak_mb() const { return peak_mb_; }

 private:
  int device_;
  std::optional<double> peak_mb_;
};

}  // namespace hmb::metrics
