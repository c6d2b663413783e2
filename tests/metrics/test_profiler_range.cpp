// The external profiler's range (--profile-start-step, --profile-steps) driven through a timed
// window: cudaProfilerStart before the first chosen timed step, stop before the step after the
// last, or at a pause or the end that comes first; never more than one range.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "metrics/profiler_range.hpp"
#include "metrics/window.hpp"

#include "fakes.hpp"

using namespace hmb::metrics;
using hmb::metrics::testing::FakeClock;
using hmb::metrics::testing::NoDevice;

namespace {
struct FakeProfiler final : ProfilerApi {
  std::vector<std::string>* log;
  explicit FakeProfiler(std::vector<std::string>* l) : log(l) {}
  void start() override { log->push_back("start"); }
  void stop() override { log->push_back("stop"); }
};

// One warm-up step, then `timed` timed steps; the log gets "step K" before timed step K's work,
// "pause" for a validation after `pause_after` timed steps (0: none).
void drive(TimedWindow& w, int timed, std::vector<std::string>& log, int pause_after = 0) {
  std::int64_t done = 0;
  w.before_step(done++);
  for (int k = 1; k <= timed; ++k) {
    w.before_step(done++);
    log.push_back("step " + std::to_string(k));
    if (k == pause_after) {
      log.push_back("pause");
      w.pause();
      w.resume();
    }
  }
  w.end();
}
}  // namespace

TEST_CASE("profiler range: opens before its first timed step and closes before the step after", "[metrics][profile]") {
  FakeClock clock;
  NoDevice device;
  TimedWindow window(clock, device, 1);
  std::vector<std::string> log;
  ProfilerRange range(std::make_unique<FakeProfiler>(&log), /*first=*/2, /*steps=*/2);
  window.add_observer(&range);
  drive(window, 5, log);
  CHECK(log == std::vector<std::string>{"step 1", "start", "step 2", "step 3", "stop", "step 4", "step 5"});
  CHECK(range.steps_seen() == 2);
}

TEST_CASE("profiler range: a pause or the end closes it, and one range per run", "[metrics][profile]") {
  FakeClock clock;
  NoDevice device;
  TimedWindow window(clock, device, 1);
  std::vector<std::string> log;
  ProfilerRange range(std::make_unique<FakeProfiler>(&log), 1, 10);
  window.add_observer(&range);
  drive(window, 6, log, /*pause_after=*/3);
  // Validation is never profiled, and the steps after it do not reopen the range.
  CHECK(log == std::vector<std::string>{"start", "step 1", "step 2", "step 3", "pause", "stop", "step 4", "step 5",
                                        "step 6"});
  CHECK(range.steps_seen() == 3);

  FakeClock clock2;
  TimedWindow short_window(clock2, device, 1);
  std::vector<std::string> log2;
  ProfilerRange late(std::make_unique<FakeProfiler>(&log2), 8, 2);
  short_window.add_observer(&late);
  drive(short_window, 5, log2);  // the run ends before timed step 8: no range at all
  CHECK(late.steps_seen() == 0);
  CHECK(std::count(log2.begin(), log2.end(), "start") == 0);
}
