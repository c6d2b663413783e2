#include "train/throughput.hpp"

namespace hmb::train {

void ThroughputMeter::add_step(double seconds, std::int64_t events, double data_wait_seconds) {
  ++steps_;
  if (steps_ <= warmup_) return;
  timed_step_s_.push_back(seconds);
  timed_s_ += seconds;
  timed_events_ += events;
  timed_wait_s_ += data_wait_seconds;
}

double ThroughputMeter::events_per_second() const {
  return timed_s_ > 0.0 ? static_cast<double>(timed_events_) / timed_s_ : 0.0;
}

}  // namespace hmb::train
