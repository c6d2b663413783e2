#include "metrics/profiler_range.hpp"

#include <spdlog/spdlog.h>

namespace hmb::metrics {

ProfilerRange::ProfilerRange(std::unique_ptr<ProfilerApi> api, std::int64_t first, std::int64_t steps)
    : api_(std::move(api)), first_(first), last_(first + steps - 1) {}

void ProfilerRange::step_begins(std::int64_t /*step*/) {
  const auto k = ++timed_;
  if (done_ || !api_) return;
  if (open_ && k > last_) return close();
  if (!open_ && k == first_) {
    api_->start();
    open_ = true;
    spdlog::info("profiler range: open from timed step {} (cudaProfilerStart)", k);
  }
  if (open_) ++seen_;
}

void ProfilerRange::close() {
  if (!open_) return;
  api_->stop();
  open_ = false;
  done_ = true;  // one range per run: a later epoch's steps are not profiled again
  spdlog::info("profiler range: closed after {} timed step(s) (cudaProfilerStop)", seen_);
}

}  // namespace hmb::metrics
