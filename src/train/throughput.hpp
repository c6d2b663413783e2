#pragma once
// The timed window: training throughput counts only steps after the first `warmup_steps`
// (which pay for allocator growth, cuDNN/cuBLAS heuristics, page faults and cold caches).
// The meter takes measured durations, so tests drive it with exact numbers.
#include <cstdint>
#include <vector>

namespace hmb::train {

class ThroughputMeter {
 public:
  explicit ThroughputMeter(std::int64_t warmup_steps) : warmup_(warmup_steps) {}

  // One training step that took `seconds` (wall, including data wait) for `events` events
  // (all ranks together) of which `data_wait_seconds` were spent waiting for the loader.
  void add_step(double seconds, std::int64_t events, double data_wait_seconds = 0.0);

  std::int64_t steps() const { return steps_; }
  std::int64_t warmup_steps() const { return warmup_; }
  std::int64_t timed_steps() const { return static_cast<std::int64_t>(timed_step_s_.size()); }
  std::int64_t timed_events() const { return timed_events_; }
  double timed_seconds() const { return timed_s_; }
  double timed_data_wait_seconds() const { return timed_wait_s_; }
  // Events per second over the timed window; 0 when it is empty.
  double events_per_second() const;
  // Step durations (s) inside the timed window, in order.
  const std::vector<double>& timed_step_seconds() const { return timed_step_s_; }

 private:
  std::int64_t warmup_;
  std::int64_t steps_ = 0;
  std::int64_t timed_events_ = 0;
  double timed_s_ = 0.0;
  double timed_wait_s_ = 0.0;
  std::vector<double> timed_step_s_;
};

}  // namespace hmb::train
