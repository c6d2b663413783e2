#pragma once
// Which timed steps an external profiler sees (`--profile-start-step`, `--profile-steps`): the
// CUDA profiler API's start before the first chosen timed step and its stop before the step
// after the last (or at the pause or end that comes first). A profiler launched with capture
// off, `ncu --profile-from-start off` or `nsys profile --capture-range=cudaProfilerApi`, then
// measures exactly those steps of the timed window, warm-up and validation left out.
#include <cstdint>
#include <memory>
#include <string>

#include "metrics/window.hpp"

namespace hmb::metrics {

// cudaProfilerStart/Stop on a GPU build; a fake in tests.
class ProfilerApi {
 public:
  virtual ~ProfilerApi() = default;
  virtual void start() = 0;
  virtual void stop() = 0;
};

// The CUDA runtime's profiler API; null (with `why`) in a build without the CUDA path.
std::unique_ptr<ProfilerApi> make_cuda_profiler_api(std::string& why);

class ProfilerRange final : public WindowObserver {
 public:
  // Timed steps first .. first + steps - 1 (1 = the window's first timed step).
  ProfilerRange(std::unique_ptr<ProfilerApi> api, std::int64_t first, std::int64_t steps);
  void step_begins(std::int64_t step) override;
  void pause(double /*t*/) override { close(); }
  void end(double /*t*/) override { close(); }
  // Timed steps the profiler saw (0 when the range never opened: too few timed steps).
  std::int64_t steps_seen() const { return seen_; }

 private:
  void close();
  std::unique_ptr<ProfilerApi> api_;
  std::int64_t first_, last_, timed_ = 0, seen_ = 0;
  bool open_ = false, done_ = false;
};

}  // namespace hmb::metrics
