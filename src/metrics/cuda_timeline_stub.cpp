// make_timeline() of a CPU-only build (HMB_WITH_CUDA=OFF): the host clock.
#include "metrics/timeline.hpp"

namespace hmb::metrics {

std::unique_ptr<Timeline> make_timeline(const torch::Device& /*device*/, Clock& host_clock) {
  return std::make_unique<HostTimeline>(host_clock);
}

}  // namespace hmb::metrics
