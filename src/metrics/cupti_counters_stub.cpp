// make_counter_sampler() of a build without CUPTI (HMB_WITH_CUPTI=OFF): the counter figures are
// absent with the reason.
#include "metrics/gpu_counters.hpp"

namespace hmb::metrics {

std::unique_ptr<CounterSampler> make_counter_sampler(bool on_gpu, bool enabled, int /*cuda_device*/,
                                                     CounterPlan plan) {
  return std::make_unique<CounterSampler>(nullptr, plan, counter_absence(on_gpu, enabled, false));
}

}  // namespace hmb::metrics
