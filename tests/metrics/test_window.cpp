// The timed window's arithmetic with a fake clock and a fake device that runs behind the host,
// as a GPU does: boundaries must wait for queued work before reading the clock.
#include <catch2/catch.hpp>

#include <algorithm>
#include <optional>

#include "metrics/device_memory.hpp"
#include "metrics/timeline.hpp"
#include "metrics/window.hpp"

#include "fakes.hpp"

using namespace hmb::metrics;
using hmb::metrics::testing::FakeClock;
using hmb::metrics::testing::NoDevice;

namespace {

// Work is queued with enqueue(seconds): the device finishes it after what it already holds,
// while the host goes on at once. synchronize() moves the clock to when the device is done.
struct FakeDevice final : DeviceSync {
  explicit FakeDevice(FakeClock& c) : clock(c) {}
  FakeClock& clock;
  double busy_until = 0;
  int syncs = 0;
  void enqueue(double seconds, double host_cost = 0.01) {
    busy_until = std::max(busy_until, clock.t) + seconds;
    clock.t += host_cost;
  }
  void synchronize() override {
    ++syncs;
    clock.t = std::max(clock.t, busy_until);
  }
};

StepSample sample(std::int64_t step, std::int64_t events, double seconds, bool timed, double wait = 0) {
  return StepSample{1, step, events, seconds, wait, timed};
}
}  // namespace

TEST_CASE("window: warm-up work queued on the device stays out, work queued inside is counted", "[metrics][window]") {
  FakeClock clock;
  FakeDevice device(clock);
  TimedWindow window(clock, device, /*warmup_steps=*/2);
  ThroughputMeter meter;
  window.add_observer(&meter);

  // Two warm-up steps of 3 s each on the device; the host returns after 0.02 s.
  for (int s = 0; s < 2; ++s) {
    CHECK_FALSE(window.before_step(s));
    device.enqueue(3.0);
  }
  CHECK(clock.t == Approx(0.02));
  // The window opens only after the device has finished the warm-up (t = 6), not at t = 0.02.
  CHECK(window.before_step(2));
  CHECK(window.is_open());
  CHECK(clock.t == Approx(6.0));
  // Four timed steps of 0.5 s, queued in 0.04 s of host time; the window's end waits for them.
  for (int s = 3; s <= 6; ++s) device.enqueue(0.5);
  for (int s = 3; s <= 6; ++s) window.step(sample(s, 4, 0.5, true));
  window.end();
  CHECK(clock.t == Approx(8.0));
  CHECK(meter.seconds() == Approx(2.0));  // 6 -> 8: the device time of the timed steps
  CHECK(meter.events() == 16);
  CHECK(meter.events_per_second() == Approx(8.0));
  // Without the synchronisations the host would have seen 0.04 s and claimed 400 events/s.
}

TEST_CASE("window: validation is paused out, and a second end changes nothing", "[metrics][window]") {
  FakeClock clock;
  FakeDevice device(clock);
  TimedWindow window(clock, device, 0);
  ThroughputMeter meter;
  window.add_observer(&meter);
  REQUIRE(window.before_step(0));  // no warm-up: opens before the first step
  device.enqueue(1.0);
  window.step(sample(1, 2, 1.0, true));
  window.pause();                   // t = 1: epoch ends
  clock.t += 5.0;                   // validation, 5 s, outside
  window.resume();
  device.enqueue(1.0);
  window.step(sample(2, 2, 1.0, true));
  window.end();
  window.end();
  window.pause();
  window.resume();
  CHECK(meter.seconds() == Approx(2.0));
  CHECK(meter.steps() == 2);
  CHECK(meter.events_per_second() == Approx(2.0));
}

TEST_CASE("window: a run shorter than its warm-up never opens the window", "[metrics][window]") {
  FakeClock clock;
  FakeDevice device(clock);
  TimedWindow window(clock, device, 5);
  ThroughputMeter meter;
  window.add_observer(&meter);
  for (int s = 0; s < 3; ++s) {
    CHECK_FALSE(window.before_step(s));
    device.enqueue(1.0);
    window.step(sample(s + 1, 1, 1.0, false));
  }
  window.end();
  CHECK_FALSE(window.has_begun());
  CHECK(meter.steps() == 0);
  CHECK(meter.seconds() == 0.0);
  CHECK(meter.events_per_second() == 0.0);
  CHECK(device.syncs == 0);
}

TEST_CASE("window: skipped fp16 updates are not trained events, data waits are summed", "[metrics][window]") {
  FakeClock clock;
  FakeDevice device(clock);
  TimedWindow window(clock, device, 0);
  ThroughputMeter meter;
  window.add_observer(&meter);
  window.before_step(0);
  for (int s = 1; s <= 4; ++s) {
    device.enqueue(1.0);
    window.step(sample(s, 3, 1.0, true, 0.25));
  }
  window.skipped(sample(2, 3, 1.0, true));
  window.end();
  CHECK(meter.events() == 9);
  CHECK(meter.skipped_steps() == 1);
  CHECK(meter.data_wait_seconds() == Approx(1.0));
  CHECK(meter.step_seconds().size() == 4);
}

TEST_CASE("window: observers are told each timed step before it begins, never a warm-up step", "[metrics][window]") {
  struct Begins final : WindowObserver {
    std::vector<std::int64_t> steps;
    void step_begins(std::int64_t step) override { steps.push_back(step); }
  } begins;
  FakeClock clock;
  FakeDevice device(clock);
  TimedWindow window(clock, device, 2);
  window.add_observer(&begins);
  for (std::int64_t done = 0; done < 4; ++done) window.before_step(done);  // steps 1-2 warm up
  window.pause();
  window.before_step(4);  // paused (validation): not a timed step
  window.resume();
  window.before_step(5);
  window.end();
  window.before_step(6);  // after the end
  const std::vector<std::int64_t> expected{3, 4, 6};
  CHECK(begins.steps == expected);
}

TEST_CASE("timeline: seconds between marks, released marks are refused", "[metrics][timeline]") {
  FakeClock clock;
  HostTimeline tl(clock);
  clock.t = 1.0;
  const auto a = tl.mark();
  clock.t = 1.5;
  const auto b = tl.mark();
  clock.t = 4.0;
  const auto c = tl.mark();
  CHECK(tl.seconds(a, b) == Approx(0.5));
  CHECK(tl.seconds(b, c) == Approx(2.5));
  tl.release_before(b);
  CHECK(tl.seconds(b, c) == Approx(2.5));
  CHECK_THROWS(tl.seconds(a, c));
  auto host = make_timeline(torch::Device(torch::kCPU), clock);
  const auto x = host->mark();
  clock.t = 7.0;
  CHECK(host->seconds(x, host->mark()) == Approx(3.0));
}

TEST_CASE("window: peak device memory is read at each pause and at the end, validation left out", "[metrics][window]") {
  FakeClock clock;
  NoDevice device;
  // The allocator's peak since its last reset: the test sets what the steps use.
  double peak_since_reset = 0;
  int resets = 0;
  const auto reset = [&](int dev) {
    CHECK(dev == 3);
    ++resets;
    peak_since_reset = 0;
  };
  const auto peak = [&](int) { return std::optional<double>(peak_since_reset); };
  const auto use = [&](double mb) { peak_since_reset = std::max(peak_since_reset, mb); };

  SECTION("a run that ends after its last validation (the window is paused)") {
    TimedWindow w(clock, device, 1);
    DeviceMemoryMeter meter(3, reset, peak);
    w.add_observer(&meter);
    use(900);  // warm-up: one-off allocations
    w.before_step(0);
    w.before_step(1);  // opens: the warm-up peak is dropped
    use(400);
    w.pause();
    use(2000);  // validation
    w.resume();
    use(500);
    w.pause();  // the last epoch's validation follows; the trainer ends the window paused
    use(3000);
    w.end();
    REQUIRE(meter.peak_mb());
    CHECK(*meter.peak_mb() == Approx(500));
    CHECK(resets == 2);
  }
  SECTION("a run that ends while the window is open") {
    TimedWindow w(clock, device, 0);
    DeviceMemoryMeter meter(3, reset, peak);
    w.add_observer(&meter);
    w.before_step(0);
    use(700);
    w.end();
    REQUIRE(meter.peak_mb());
    CHECK(*meter.peak_mb() == Approx(700));
  }
  SECTION("on the CPU nothing is read") {
    TimedWindow w(clock, device, 0);
    DeviceMemoryMeter meter(-1, reset, peak);
    w.add_observer(&meter);
    w.before_step(0);
    use(700);
    w.end();
    CHECK_FALSE(meter.peak_mb());
    CHECK(resets == 0);
  }
}

TEST_CASE("window: set-up done in prepare() stays out of the timed window", "[metrics][window]") {
  // An observer whose set-up takes 5 s (as CUPTI's profiler set-up may take a while).
  struct SlowSetup final : WindowObserver {
    explicit SlowSetup(FakeClock& c) : clock(c) {}
    FakeClock& clock;
    int prepared = 0;
    double begun_at = -1, resumed_at = -1;
    void prepare() override {
      ++prepared;
      clock.t += 5;
    }
    void begin(double t) override { begun_at = t; }
    void resume(double t) override { resumed_at = t; }
  };
  FakeClock clock;
  FakeDevice device(clock);
  TimedWindow w(clock, device, 1);
  ThroughputMeter meter;
  SlowSetup setup(clock);
  w.add_observer(&setup);
  w.add_observer(&meter);

  w.before_step(0);
  device.enqueue(1);  // the warm-up step
  w.before_step(1);   // opens: prepare (5 s), synchronise, then the clock
  CHECK(setup.prepared == 1);
  CHECK(setup.begun_at == Approx(clock.t));
  device.enqueue(2);
  w.step(sample(2, 10, 2, true));
  w.pause();
  device.enqueue(4);  // validation, still queued when training resumes
  w.resume();         // prepare again, then wait for validation, then the clock
  CHECK(setup.prepared == 2);
  CHECK(setup.resumed_at == Approx(clock.t));
  device.enqueue(3);
  w.step(sample(3, 10, 3, true));
  w.end();
  // Only the two timed steps' device time: neither set-up nor validation.
  CHECK(meter.seconds() == Approx(5.0));
  CHECK(meter.events() == 20);
}
