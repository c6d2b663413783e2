// The utilisation formulas on known inputs: FLOP, MFU, energy from power readings or the
// energy counter, CPU utilisation, the GPU peak table, the trace's step phases.
#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <thread>

#include "metrics/formulas.hpp"
#include "metrics/gpu_peaks.hpp"
#include "metrics/host_usage.hpp"
#include "metrics/power.hpp"
#include "metrics/trace.hpp"
#include "metrics/utilisation.hpp"
#include "util/error.hpp"

#include "fakes.hpp"

using namespace hmb::metrics;
using hmb::metrics::testing::FakeClock;
using hmb::metrics::testing::NoDevice;

TEST_CASE("formulas: model FLOP/s, MFU, matrix-product FLOP", "[metrics][formulas]") {
  // 3 GFLOP per event at 20 events/s = 60 GFLOP/s; against a 240 GFLOP/s peak: 25 %.
  CHECK(model_flop_per_s(3e9, 20) == Approx(60e9));
  REQUIRE(mfu(60e9, 240e9));
  CHECK(*mfu(60e9, 240e9) == Approx(0.25));
  CHECK_FALSE(mfu(60e9, 0));
  CHECK_FALSE(mfu(60e9, -1));
  CHECK(matmul_flop(1024, 1024, 1024) == Approx(2.0 * 1024 * 1024 * 1024));
  CHECK(matmul_flop(2, 3, 4) == 48);
  CHECK(*busy_fraction(0.75, 1.0) == Approx(0.75));
  CHECK_FALSE(busy_fraction(0.5, 0));
}

TEST_CASE("formulas: expected vs measured FLOP", "[metrics][formulas]") {
  CHECK(*flop_ratio(900, 1000.0) == Approx(0.9));
  CHECK_FALSE(flop_ratio(900, std::nullopt));
  CHECK_FALSE(flop_ratio(900, 0.0));
}

TEST_CASE("formulas: energy is the integral of power over the open spans", "[metrics][formulas]") {
  // Power rises linearly from 100 W at t=0 to 300 W at t=2.
  const std::vector<PowerSample> ramp{{0, 100}, {1, 200}, {2, 300}};
  CHECK(*integrate_power(ramp, {{0, 2}}) == Approx(400));          // mean 200 W × 2 s
  CHECK(*integrate_power(ramp, {{0.5, 1.5}}) == Approx(200));      // cut inside samples
  CHECK(*integrate_power(ramp, {{0, 1}, {1.5, 2}}) == Approx(150 + 137.5));  // two spans
  // Beyond the samples, the first and last readings are held.
  CHECK(*integrate_power(ramp, {{-1, 0}}) == Approx(100));
  CHECK(*integrate_power(ramp, {{2, 4}}) == Approx(600));
  // Order of the samples does not matter; an empty window has no energy.
  CHECK(*integrate_power({{2, 300}, {0, 100}, {1, 200}}, {{0, 2}}) == Approx(400));
  CHECK(*integrate_power(ramp, {}) == 0);
  CHECK_FALSE(integrate_power({}, {{0, 1}}));
  CHECK(*events_per_joule(100, 400.0) == Approx(0.25));
  CHECK_FALSE(events_per_joule(100, std::nullopt));
}

TEST_CASE("power: the energy counter where it exists, else the integral", "[metrics][power]") {
  const std::vector<TimeSpan> open{{10, 20}, {30, 40}};
  auto reading = [](double t, std::optional<double> w, std::optional<double> mj) {
    GpuReading r;
    r.t = t;
    r.power_w = w;
    r.energy_mj = mj;
    r.memory_used_mb = 1000 + t;
    r.sm_clock_mhz = 1500;
    r.temperature_c = 40 + t / 10;
    return r;
  };
  // Counter: 2,000 J in the first span, 1,000 J in the second (mJ readings at the edges).
  const std::vector<GpuReading> edges{reading(10, 200, 1e6), reading(20, 200, 3e6), reading(30, 100, 5e6),
                                      reading(40, 100, 6e6)};
  const std::vector<GpuReading> inside{reading(15, 250, std::nullopt), reading(35, 90, std::nullopt),
                                       reading(25, 999, std::nullopt)};  // t=25: paused, ignored
  auto p = summarise_power("Test GPU", inside, open, edges);
  CHECK(p.gpu_name == "Test GPU");
  REQUIRE(p.energy.value);
  CHECK(*p.energy.value == Approx(3000));
  CHECK(p.energy.source == "NVML total-energy counter");
  CHECK(*p.mean_power.value == Approx(150));    // 3,000 J over 20 s
  CHECK(*p.max_power.value == Approx(250));     // the paused 999 W is outside
  CHECK(*p.memory_used_peak.value == Approx(1040));
  CHECK(*p.temperature_max.value == Approx(44));
  CHECK(*p.sm_clock.value == Approx(1500));
  CHECK(p.readings == 6);

  // Without the counter: the integral of the readings over the spans.
  std::vector<GpuReading> no_counter = edges;
  for (auto& e : no_counter) e.energy_mj.reset();
  auto q = summarise_power("Test GPU", {}, open, no_counter);
  REQUIRE(q.energy.value);
  CHECK(q.energy.source == "integral of NVML power readings");
  // Readings 200,200 over [10,20] → 2,000 J; 100,100 over [30,40] → 1,000 J; the line from
  // (20,200) to (30,100) lies in the pause.
  CHECK(*q.energy.value == Approx(3000));

  auto none = absent_power("no GPU");
  CHECK_FALSE(none.energy.value);
  CHECK(none.energy.reason == "no GPU");
  CHECK(none.energy.unit == "J");
}

namespace {
struct FakeProbe final : GpuProbe {
  std::atomic<int> reads{0};
  std::string name() const override { return "Fake GPU"; }
  GpuReading read() override {
    ++reads;
    GpuReading r;
    r.power_w = 100;
    return r;
  }
};
}  // namespace

TEST_CASE("power: the sampler reads in the background while the window is open", "[metrics][power]") {
  SteadyClock clock;
  auto probe = std::make_unique<FakeProbe>();
  auto* raw = probe.get();
  PowerSampler sampler(std::move(probe), "", clock, 0.001);
  // Waits, up to a deadline far beyond the 1 ms period, until the probe has been read `n` times.
  auto reads_reach = [raw](int n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (raw->reads < n && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return raw->reads >= n;
  };
  sampler.begin(clock.now());
  CHECK(reads_reach(3));  // the edge and background readings
  sampler.pause(clock.now());
  // Paused: no reading, but perhaps one the sampler had begun before the pause.
  const int at_pause = raw->reads;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(raw->reads <= at_pause + 1);
  const int after_pause = raw->reads;
  sampler.resume(clock.now());
  CHECK(reads_reach(after_pause + 3));  // reading again: the edge and background readings
  sampler.end(clock.now());
  const auto s = sampler.summary();
  CHECK(s.readings >= 6);  // four edges and the background readings inside the two open spans
  CHECK(s.gpu_name == "Fake GPU");
  REQUIRE(s.energy.value);
  REQUIRE(s.mean_power.value);
  CHECK(*s.mean_power.value == Approx(100));
}

TEST_CASE("power: without a probe every figure is absent, with the reason make_nvml_probe gives", "[metrics][power]") {
  std::string why;
  auto probe = make_nvml_probe(-1, why);  // no CUDA device: no probe in any build
  REQUIRE(probe == nullptr);
#if HMB_TEST_WITH_NVML
  CHECK(why == "no GPU");
#else
  CHECK_THAT(why, Catch::Contains("HMB_WITH_NVML=OFF"));
#endif
  FakeClock fake;
  PowerSampler absent(std::move(probe), why, fake, 0.1);
  absent.begin(0);
  absent.end(1);
  const auto s = absent.summary();
  for (const auto* f : {&s.memory_used_peak, &s.mean_power, &s.max_power, &s.energy, &s.sm_clock, &s.temperature_max}) {
    CHECK_FALSE(f->value);
    CHECK(f->reason == why);
  }
}

TEST_CASE("host: CPU utilisation over the window's open time", "[metrics][host]") {
  double cpu = 0;
  CpuUsageMeter meter(4, [&cpu] { return cpu; });
  CHECK_FALSE(meter.utilisation().value);  // empty window
  meter.begin(10);
  cpu = 6;             // 6 CPU-seconds in 2 s: 3 busy cores of 4
  meter.pause(12);
  cpu = 100;           // validation: outside
  meter.resume(20);
  cpu = 102;           // 2 CPU-seconds in 2 s
  meter.end(22);
  CHECK(meter.cpu_seconds() == Approx(8));
  CHECK(meter.open_seconds() == Approx(4));
  CHECK(*meter.busy_cores().value == Approx(2));
  CHECK(*meter.utilisation().value == Approx(0.5));
  CHECK(meter.utilisation().unit == "fraction");
  CHECK(process_cpu_seconds() > 0);
}

TEST_CASE("peaks: the GPU table by device name and precision", "[metrics][peaks]") {
  std::string why;
  auto h100 = find_gpu_peak("NVIDIA H100 80GB HBM3", "bf16", why);
  REQUIRE(h100);
  CHECK(h100->flop_per_s == Approx(989.5e12));
  auto pcie = find_gpu_peak("NVIDIA H100 PCIe", "fp32", why);
  REQUIRE(pcie);
  CHECK(pcie->flop_per_s == Approx(51e12));  // the first matching row wins
  auto a100 = find_gpu_peak("NVIDIA A100-SXM4-40GB", "tf32", why);
  REQUIRE(a100);
  CHECK(a100->flop_per_s == Approx(156e12));
  auto l40 = find_gpu_peak("NVIDIA L40", "fp32", why);
  REQUIRE(l40);
  CHECK(l40->flop_per_s == Approx(90.5e12));  // not L40S
  CHECK_FALSE(find_gpu_peak("NVIDIA GeForce GTX 1080", "fp32", why));
  CHECK(why.find("unknown GPU 'NVIDIA GeForce GTX 1080'") != std::string::npos);
  const std::string table = R"({"unit": "TFLOP/s", "gpus": [{"name": "X1", "match": "x1", "tflops": {"fp32": 2, "bf16": null}}]})";
  CHECK(find_gpu_peak(table, "Vendor X1", "fp32", why)->flop_per_s == Approx(2e12));
  CHECK_FALSE(find_gpu_peak(table, "Vendor X1", "bf16", why));
  CHECK(why == "no bf16 peak for X1 in the GPU peak table");
  CHECK_THROWS_AS(find_gpu_peak("{not json", "x", "fp32", why), hmb::Error);
  CHECK_THROWS_AS(find_gpu_peak(R"({"gpus": [{"match": "("}]})", "x", "fp32", why), hmb::Error);
}

TEST_CASE("trace: step phases of the first timed steps, as Chrome-trace JSON", "[metrics][trace]") {
  FakeClock clock;
  NoDevice device;
  TimedWindow window(clock, device, 1);
  TraceRecorder rec(clock, 2);
  window.add_observer(&rec);
  auto step = [&](double wait, double fwd, double bwd, double opt) {
    rec.enter(Phase::data_wait);
    clock.t += wait;
    rec.enter(Phase::forward);
    clock.t += fwd;
    rec.enter(Phase::backward);
    clock.t += bwd;
    rec.enter(Phase::optimiser);
    clock.t += opt;
    rec.leave();
  };
  window.before_step(0);
  step(1, 1, 1, 1);           // warm-up: not recorded
  CHECK(window.before_step(1));
  step(0.5, 1, 2, 0.5);       // recorded
  step(0.5, 1, 2, 0.5);       // recorded
  step(9, 9, 9, 9);           // past the 2 steps asked for
  window.end();
  const auto& spans = rec.spans();
  REQUIRE(spans.size() == 10);  // 4 phases + 1 step bar, twice
  CHECK(spans[0].name == "data wait");
  CHECK(spans[0].begin_s == Approx(4));
  CHECK(spans[0].end_s == Approx(4.5));
  CHECK(spans[2].name == "backward");
  CHECK(spans[2].end_s - spans[2].begin_s == Approx(2));
  CHECK(spans[4].category == "step");
  CHECK(spans[4].end_s - spans[4].begin_s == Approx(4));
  CHECK(rec.from() == Approx(4));
  CHECK(rec.to() == Approx(12));

  // A pause (validation) before the steps asked for were recorded: recording goes on after it.
  TimedWindow paused_window(clock, device, 0);
  TraceRecorder after_pause(clock, 2);
  paused_window.add_observer(&after_pause);
  auto whole_step = [&] {
    after_pause.enter(Phase::data_wait);
    clock.t += 1;
    after_pause.enter(Phase::forward);
    clock.t += 1;
    after_pause.leave();
  };
  CHECK(paused_window.before_step(0));
  whole_step();
  paused_window.pause();
  clock.t += 100;  // validation
  paused_window.resume();
  whole_step();
  whole_step();  // past the 2 steps asked for
  paused_window.end();
  CHECK(after_pause.steps() == 2);
  CHECK(after_pause.spans().size() == 6);  // 2 phases + 1 step bar, twice

  auto spans_with_gpu = spans;
  spans_with_gpu.push_back({"gemm", "kernel", "GPU stream 7", 4.25, 4.75});
  const auto j = chrome_trace(spans_with_gpu);
  REQUIRE(j.contains("traceEvents"));
  int complete = 0, names = 0;
  for (const auto& e : j["traceEvents"]) {
    if (e["ph"] == "X") {
      ++complete;
      CHECK(e["ts"].get<double>() >= 0);
    }
    if (e["ph"] == "M" && e["name"] == "thread_name") ++names;
  }
  CHECK(complete == 11);
  CHECK(names == 3);  // host steps, host, GPU stream 7
  CHECK(j["traceEvents"].back()["ts"].get<double>() == Approx(0.25e6));  // µs from the first span
  CHECK(chrome_trace({})["traceEvents"].empty());
}

namespace {
// The meters of a CPU run on 2 usable cores, over a clock the test sets, with a measured CPU peak.
struct CpuRun {
  FakeClock clock;
  NoDevice device;
  TimedWindow window{clock, device, 0};
  UtilisationMeters meters{config(), clock};
  explicit CpuRun(const MatmulPeak& peak) {
    meters.attach(window);
    meters.set_cpu_peak(peak);
  }
  static UtilisationConfig config() {
    UtilisationConfig c;
    c.usable_cores = 2;
    return c;
  }
};
}  // namespace

TEST_CASE("utilisation: a CPU run's figures, GPU figures absent with 'no GPU'", "[metrics][utilisation]") {
  MatmulPeak peak;
  peak.flop_per_s = 100e9;
  peak.n = 64;
  peak.products = 3;
  peak.threads = 2;
  CpuRun run(peak);
  auto& clock = run.clock;
  auto& window = run.window;
  auto& meters = run.meters;
  CHECK(meters.phases() == nullptr);
  window.before_step(0);
  clock.t = 2;
  window.end();
  const auto u = meters.finish(40, 20, 1e9);  // 20 events/s × 1 GFLOP = 20 GFLOP/s
  CHECK(*u.model_flop_per_s.value == Approx(20e9));
  CHECK(*u.peak_flop_per_s.value == Approx(100e9));
  CHECK(u.peak_flop_per_s.source.find("measured: float32 matrix product 64 x 64") == 0);
  CHECK(*u.mfu.value == Approx(0.2));
  CHECK(u.cpu_utilisation.value);
  for (const auto* f : {&u.gpu_busy_fraction, &u.gpu_energy, &u.gpu_mean_power, &u.gpu_achieved_flop_per_s,
                        &u.gpu_achieved_fraction_of_peak, &u.model_to_measured_flop, &u.gpu_counted_flop,
                        &u.gpu_counter_time, &u.events_per_joule, &u.gpu_memory_used_peak}) {
    CHECK_FALSE(f->value);
    CHECK(f->reason == "no GPU");
  }
}

TEST_CASE("utilisation: no timed event: model FLOP/s and MFU absent, not zero", "[metrics][utilisation]") {
  MatmulPeak peak;
  peak.flop_per_s = 100e9;
  CpuRun run(peak);
  run.window.end();
  const auto u = run.meters.finish(0, 0, 1e9);
  CHECK_FALSE(u.model_flop_per_s.value);
  CHECK(u.model_flop_per_s.reason == "empty timed window");
  CHECK_FALSE(u.mfu.value);
  CHECK(u.mfu.reason == "empty timed window");
  // The peak was measured all the same.
  CHECK(*u.peak_flop_per_s.value == Approx(100e9));
}

TEST_CASE("utilisation: the job's figures of several ranks: model rate from the job's throughput, energy summed",
          "[metrics][utilisation]") {
  UtilisationRecord u;
  u.model_flop_per_s = Figure::of(1e9, "FLOP/s");
  u.peak_flop_per_s = Figure::of(1e10, "FLOP/s", "table: H100, bf16");
  u.mfu = Figure::of(0.1, "fraction");
  u.gpu_energy = Figure::of(100, "J", "NVML total-energy counter");
  u.events_per_joule = Figure::of(0.5, "events/J");  // rank 0's 50 events over its 100 J
  const auto energy = [](std::optional<double> j) {
    RankGpuFigures g;
    g.energy_j = j;
    return g;
  };
  SECTION("every rank measured its energy") {
    apply_job_figures(u, 30, 1e8, 100, {energy(100.0), energy(150.0)});
    CHECK(*u.model_flop_per_s.value == Approx(3e9));  // 30 events/s per rank x 1e8 FLOP/event
    CHECK(*u.mfu.value == Approx(0.3));
    CHECK(*u.gpu_energy.value == Approx(250));
    CHECK(u.gpu_energy.source == "NVML total-energy counter, summed over 2 ranks");
    CHECK(*u.events_per_joule.value == Approx(100.0 / 250));
  }
  SECTION("a rank without energy leaves rank 0's, and says so") {
    apply_job_figures(u, 30, 1e8, 100, {energy(100.0), energy(std::nullopt)});
    CHECK(*u.gpu_energy.value == Approx(100));
    CHECK(u.gpu_energy.source == "NVML total-energy counter (rank 0's alone: rank 1 measured none)");
    CHECK(*u.events_per_joule.value == Approx(0.5));
  }
  SECTION("a CPU run: no energy anywhere, nothing summed; an absent model rate stays absent") {
    u.gpu_energy = Figure::absent("J", "no GPU");
    u.model_flop_per_s = Figure::absent("FLOP/s", "empty timed window");
    apply_job_figures(u, 30, 1e8, 100, {energy(std::nullopt), energy(std::nullopt)});
    CHECK_FALSE(u.gpu_energy.value);
    CHECK(u.gpu_energy.reason == "no GPU");
    CHECK_FALSE(u.model_flop_per_s.value);
    CHECK(*u.mfu.value == Approx(0.1));
  }
}

TEST_CASE("utilisation: the job's per-GPU figures of several ranks: means, largest values, or rank 0's with the rank "
          "that measured none", "[metrics][utilisation]") {
  UtilisationRecord u;
  u.gpu_busy_fraction = Figure::of(0.8, "fraction");
  u.gpu_mean_power = Figure::of(300, "W", "NVML, 10 readings");
  u.gpu_max_power = Figure::of(350, "W");
  u.gpu_sm_clock = Figure::of(1800, "MHz");
  u.gpu_temperature_max = Figure::of(60, "degC");
  u.gpu_memory_used_peak = Figure::of(1000, "MiB");
  RankGpuFigures r0, r1, r2;
  r0.busy_fraction = 0.8, r1.busy_fraction = 0.6, r2.busy_fraction = 0.4;
  r0.mean_power_w = 300, r1.mean_power_w = 200, r2.mean_power_w = 100;
  r0.max_power_w = 350, r1.max_power_w = 500, r2.max_power_w = 120;
  r0.sm_clock_mhz = 1800, r1.sm_clock_mhz = 1500, r2.sm_clock_mhz = 1200;
  r0.temperature_max_c = 60, r1.temperature_max_c = 71, r2.temperature_max_c = 55;
  r0.memory_used_peak_mib = 1000, r1.memory_used_peak_mib = 900, r2.memory_used_peak_mib = 1200;
  SECTION("every rank measured them") {
    apply_job_figures(u, 30, 1e8, 100, {r0, r1, r2});
    CHECK(*u.gpu_busy_fraction.value == Approx(0.6));
    CHECK(u.gpu_busy_fraction.source == "mean over 3 ranks");
    CHECK(*u.gpu_mean_power.value == Approx(200));
    CHECK(u.gpu_mean_power.source == "NVML, 10 readings, mean over 3 ranks");
    CHECK(u.gpu_mean_power.unit == "W");
    CHECK(*u.gpu_sm_clock.value == Approx(1500));
    CHECK(*u.gpu_max_power.value == Approx(500));
    CHECK(u.gpu_max_power.source == "largest of 3 ranks");
    CHECK(*u.gpu_temperature_max.value == Approx(71));
    CHECK(*u.gpu_memory_used_peak.value == Approx(1200));
  }
  SECTION("a rank without a figure leaves rank 0's for that one, and says which rank") {
    r2.max_power_w.reset();
    apply_job_figures(u, 30, 1e8, 100, {r0, r1, r2});
    CHECK(*u.gpu_max_power.value == Approx(350));
    CHECK(u.gpu_max_power.source == "(rank 0's alone: rank 2 measured none)");
    CHECK(*u.gpu_mean_power.value == Approx(200));  // the others are still the job's
  }
  SECTION("one rank: nothing changes") {
    apply_job_figures(u, 30, 1e8, 100, {r1});
    CHECK(*u.gpu_busy_fraction.value == Approx(0.8));
    CHECK(u.gpu_busy_fraction.source.empty());
  }
}
