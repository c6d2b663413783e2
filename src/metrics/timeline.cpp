#include "metrics/timeline.hpp"

#include <torch/cuda.h>

#include "util/error.hpp"

namespace hmb::metrics {

std::int64_t HostTimeline::mark() {
  times_.push_back(clock_.now());
  return first_ + static_cast<std::int64_t>(times_.size()) - 1;
}

double HostTimeline::seconds(std::int64_t from, std::int64_t to) {
  const auto n = static_cast<std::int64_t>(times_.size());
  require(from >= first_ && to >= first_ && from - first_ < n && to - first_ < n,
          "timeline: mark " + std::to_string(from) + " or " + std::to_string(to) + " is no longer held");
  return times_[static_cast<size_t>(to - first_)] - times_[static_cast<size_t>(from - first_)];
}

void HostTimeline::release_before(std::int64_t id) {
  while (first_ < id && !times_.empty()) {
    times_.pop_front();
    ++first_;
  }
}

void TorchDeviceSync::synchronize() {
  if (device_.is_cuda()) torch::cuda::synchronize(device_.index());
}

}  // namespace hmb::metrics
