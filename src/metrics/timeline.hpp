#pragma once
// Points on the device's timeline, to time steps by what the device did rather than by when
// the host queued the work. On a CUDA device a mark is an event recorded on the current
// stream; on the CPU, where work runs as it is called, it is the clock's reading.
#include <torch/types.h>

#include <cstdint>
#include <deque>
#include <memory>

#include "metrics/window.hpp"

namespace hmb::metrics {

class Timeline {
 public:
  virtual ~Timeline() = default;
  // Records a point after the work queued so far; returns its id (ids grow from 0).
  virtual std::int64_t mark() = 0;
  // Seconds from mark `from` to mark `to`; waits for `to` to be reached.
  virtual double seconds(std::int64_t from, std::int64_t to) = 0;
  // Forgets the marks before `id` (their times can no longer be asked for).
  virtual void release_before(std::int64_t id) = 0;
};

class HostTimeline final : public Timeline {
 public:
  explicit HostTimeline(Clock& clock) : clock_(clock) {}
  std::int64_t mark() override;
  double seconds(std::int64_t from, std::int64_t to) override;
  void release_before(std::int64_t id) override;

 private:
  Clock& clock_;
  std::int64_t first_ = 0;
  std::deque<double> times_;
};

// The timeline of `device`: CUDA events where hep-mlbench is built with CUDA and the device is
// a GPU, the host clock otherwise.
std::unique_ptr<Timeline> make_timeline(const torch::Device& device, Clock& host_clock);

// DeviceSync for a LibTorch device: waits for the CUDA device's queued work; nothing on the CPU.
class TorchDeviceSync final : public DeviceSync {
 public:
  explicit TorchDeviceSync(torch::Device device) : device_(device) {}
  void synchronize() override;

 private:
  torch::Device device_;
};

}  // namespace hmb::metrics
