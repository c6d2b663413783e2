// make_timeline() of a build with the CUDA path: CUDA events on the current stream for GPUs.
#include <ATen/cuda/CUDAEvent.h>

#include <deque>

#include "metrics/timeline.hpp"
#include "util/error.hpp"

namespace hmb::metrics {

namespace {
class CudaTimeline final : public Timeline {
 public:
  explicit CudaTimeline(torch::Device device) : device_(device) {}

  std::int64_t mark() override {
    events_.emplace_back(cudaEventDefault);  // timing enabled
    events_.back().record();                 // on the current stream of the current device
    return first_ + static_cast<std::int64_t>(events_.size()) - 1;
  }

  double seconds(std::int64_t from, std::int64_t to) override {
    const auto n = static_cast<std::int64_t>(events_.size());
    require(from >= first_ && to >= first_ && from - first_ < n && to - first_ < n,
            "timeline: mark " + std::to_string(from) + " or " + std::to_string(to) + " is no longer held");
    auto& a = events_[static_cast<size_t>(from - first_)];
    auto& b = events_[static_cast<size_t>(to - first_)];
    b.synchronize();
    return static_cast<double>(a.elapsed_time(b)) / 1e3;
  }

  void release_before(std::int64_t id) override {
    while (first_ < id && !events_.empty()) {
      events_.pop_front();
      ++first_;
    }
  }

 private:
  torch::Device device_;
  std::int64_t first_ = 0;
  std::deque<at::cuda::CUDAEvent> events_;
};
}  // namespace

std::unique_ptr<Timeline> make_timeline(const torch::Device& device, Clock& host_clock) {
  if (device.is_cuda()) return std::make_unique<CudaTimeline>(device);
  return std::make_unique<HostTimeline>(host_clock);
}

}  // namespace hmb::metrics
