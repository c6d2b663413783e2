// The hardware-counter figures without a GPU: counts → FLOP, the steps a sample covers, the
// sampler driving a fake range profiler through the timed window, and every absent path with
// its reason.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "metrics/gpu_counters.hpp"
#include "metrics/utilisation.hpp"

#include "fakes.hpp"

using namespace hmb::metrics;
using hmb::metrics::testing::FakeClock;
using hmb::metrics::testing::NoDevice;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A range profiler that records what it was asked, needs `passes` passes and hands back `values`.
struct FakeSession final : CounterSession {
  int needed = 1;
  std::string open_error;
  CounterValues result;
  std::vector<std::string>* log = nullptr;
  int ended = 0;
  std::string open() override {
    log->push_back("open");
    return open_error;
  }
  int passes() const override { return needed; }
  std::string begin_pass() override {
    log->push_back("begin");
    return "";
  }
  std::string end_pass(bool& all) override {
    log->push_back("end");
    all = ++ended >= needed;
    return "";
  }
  std::string read(CounterValues& out) override {
    log->push_back("read");
    out = result;
    return "";
  }
};

// Known counts: 45 FMA-pipe thread instructions = 90 FLOP at most; tensor 100 + 50 = 150 FLOP;
// 240 FLOP in all over 2 µs of GPU time.
CounterValues known_values() {
  CounterValues v;
  v.values = {{"gpu__time_duration.sum", 2000.0},
              {"sm__thread_inst_executed_pipe_fma_pred_on.sum", 45},
              {"sm__ops_path_tensor_src_fp16_dst_fp32.sum", 100},
              {"sm__ops_path_tensor_src_bf16_dst_fp32.sum", 50},
              {"sm__inst_executed_pipe_tensor.sum", 7}};
  return v;
}

// Runs `timed_steps` steps of `events` events through a window (warm-up 1 step), with a pause
// after `pause_after` timed steps (0: none).
void run_steps(TimedWindow& w, int timed_steps, std::int64_t events, int pause_after = 0) {
  std::int64_t done = 0;
  w.before_step(done);
  ++done;  // the warm-up step
  for (int k = 1; k <= timed_steps; ++k) {
    w.before_step(done);
    ++done;
    w.step(StepSample{1, done, events, 0.1, 0, true});
    if (k == pause_after) {
      w.pause();
      w.resume();
    }
  }
  w.end();
}
}  // namespace

TEST_CASE("utilisation counters: counts to FLOP and range time", "[metrics][counters]") {
  const auto c = counted_flop(known_values());
  CHECK(c.fp32 == Approx(90));  // 2 per FMA-pipe instruction: the upper bound
  CHECK(c.tensor == Approx(150));
  CHECK(c.total() == Approx(240));
  CHECK(c.has_tensor);
  REQUIRE(counter_range_seconds(known_values()));
  CHECK(*counter_range_seconds(known_values()) == Approx(2e-6));

  // A chip without tensor counters: that part is absent, not zero.
  CounterValues fp32_only;
  fp32_only.values = {{"sm__thread_inst_executed_pipe_fma_pred_on.sum", 4}};
  const auto f = counted_flop(fp32_only);
  CHECK(f.fp32 == Approx(8));
  CHECK_FALSE(f.has_tensor);
  CHECK_FALSE(counter_range_seconds(fp32_only));

  // The SASS opcode counts are not read: the range profiler does not patch instructions, and
  // they read 0 on a GPU (an H200, 2026-11-28), which would have made every FP32 figure 0.
  for (const auto& m : counter_metrics())
    for (const char* n : m.names) CHECK(std::string(n).find("sass") == std::string::npos);

  // Every metric name appears once; the FP32 and time counters are required.
  std::vector<std::string> names;
  for (const auto& m : counter_metrics()) {
    REQUIRE_FALSE(m.names.empty());
    for (const char* n : m.names) {
      CHECK(std::find(names.begin(), names.end(), n) == names.end());
      names.emplace_back(n);
    }
    if (m.kind == CounterKind::time || m.kind == CounterKind::fma_pipe) CHECK(m.required);
  }
}

TEST_CASE("utilisation counters: a quantity is read under the first name the chip has", "[metrics][counters]") {
  const std::string fp16_ampere = "sm__ops_path_tensor_src_fp16_dst_fp32.sum";
  const std::string fp16_hopper = "sm__ops_path_tensor_src_fp16.sum";
  const auto has_name = [](const CounterSelection& s, const std::string& n) {
    return std::find(s.names.begin(), s.names.end(), n) != s.names.end();
  };

  // A chip with every name: the first of each quantity, one name per quantity.
  const auto all = select_counter_metrics([](const char*) { return true; });
  CHECK(all.names.size() == counter_metrics().size());
  CHECK(all.missing.empty());
  CHECK(all.required_missing.empty());
  CHECK(has_name(all, fp16_ampere));
  CHECK_FALSE(has_name(all, fp16_hopper));

  // A Hopper-like chip: no FP16-to-FP32 tensor name, the FP16 one instead; no quantity is lost.
  const auto hopper = select_counter_metrics([&](const char* n) { return n != fp16_ampere; });
  CHECK(has_name(hopper, fp16_hopper));
  CHECK_FALSE(has_name(hopper, fp16_ampere));
  CHECK(hopper.names.size() == counter_metrics().size());
  CHECK(hopper.missing.empty());

  // Neither FP16 tensor name: that quantity is missing, named by both, and not required.
  const auto neither =
      select_counter_metrics([&](const char* n) { return n != fp16_ampere && n != fp16_hopper; });
  REQUIRE(neither.missing.size() == 1);
  CHECK(neither.missing[0] == fp16_ampere + " or " + fp16_hopper);
  CHECK(neither.required_missing.empty());

  // Without the FMA-pipe count there is no FP32 figure: the selection says which metric is lacking.
  const std::string fma = "sm__thread_inst_executed_pipe_fma_pred_on.sum";
  const auto no_fma = select_counter_metrics([&](const char* n) { return n != fma; });
  CHECK(no_fma.required_missing == fma);

  // The values of a Hopper-like selection count the FP16 tensor math under its own name.
  CounterValues v;
  v.values = {{"sm__thread_inst_executed_pipe_fma_pred_on.sum", 1}, {fp16_hopper, 40},
              {"sm__ops_path_tensor_op_hgmma_src_fp16.sum", 30}};
  const auto f = counted_flop(v);
  CHECK(f.tensor == Approx(40));  // the HGMMA share is information, already inside the total
  CHECK(f.total() == Approx(42));
}

TEST_CASE("utilisation counters: which timed steps a sample covers", "[metrics][counters]") {
  CounterPlan p;
  p.first_step = 5;
  p.steps_per_pass = 3;
  p.passes = 2;  // timed steps 5-7 and 8-10
  CHECK(p.last_step() == 10);
  CHECK_FALSE(p.starts_pass(4));
  CHECK(p.starts_pass(5));
  CHECK_FALSE(p.starts_pass(6));
  CHECK(p.starts_pass(8));
  CHECK_FALSE(p.starts_pass(11));  // no third pass
  CHECK_FALSE(p.ends_pass_before(5));
  CHECK(p.ends_pass_before(8));
  CHECK(p.ends_pass_before(11));
  CHECK_FALSE(p.ends_pass_before(14));
  CHECK_FALSE(p.sampled(4));
  CHECK(p.sampled(5));
  CHECK(p.sampled(10));
  CHECK_FALSE(p.sampled(11));
}

TEST_CASE("utilisation counters: the sampler runs one range per pass over consecutive steps", "[metrics][counters]") {
  FakeClock clock;
  NoDevice device;
  TimedWindow window(clock, device, 1);
  std::vector<std::string> log;
  auto session = std::make_unique<FakeSession>();
  session->needed = 2;
  session->result = known_values();
  session->log = &log;
  CounterPlan plan;
  plan.first_step = 2;
  plan.steps_per_pass = 2;  // passes over timed steps 2-3 and 4-5
  CounterSampler sampler(std::move(session), plan);
  window.add_observer(&sampler);
  run_steps(window, 8, 4);
  CHECK(log == (std::vector<std::string>{"open", "begin", "end", "begin", "end", "read"}));
  const auto o = sampler.outcome();
  REQUIRE(o.reason.empty());
  CHECK(o.plan.passes == 2);
  CHECK(o.events_per_pass == Approx(8));  // 2 steps × 4 events

  // 240 FLOP in 2 µs = 120 MFLOP/s; against a 240 MFLOP/s peak, half of it. The cost model's
  // 20 FLOP per event × 8 events per pass, on 2 ranks: 80 FLOP per rank ÷ 240 counted.
  const auto f = counter_figures(o, 20, 2, Figure::of(240e6, "FLOP/s"));
  CHECK(*f.counted_flop.value == Approx(240));
  CHECK(*f.counted_fp32_flop.value == Approx(90));
  CHECK_FALSE(f.counted_half_flop.value);
  CHECK_THAT(f.counted_half_flop.reason, Catch::Contains("gpu_counted_fp32_flop"));
  CHECK(*f.counted_tensor_flop.value == Approx(150));
  CHECK(*f.range_time.value == Approx(2e-6));
  CHECK(*f.achieved_flop_per_s.value == Approx(120e6));
  CHECK(f.achieved_flop_per_s.unit == "FLOP/s");
  CHECK(*f.achieved_fraction_of_peak.value == Approx(0.5));
  CHECK(*f.model_to_measured_flop.value == Approx(80.0 / 240.0));

  // Without a peak for the GPU, the fraction says why; the other figures stay.
  const auto g = counter_figures(o, 20, 2, Figure::absent("FLOP/s", "unknown GPU 'X'"));
  CHECK_FALSE(g.achieved_fraction_of_peak.value);
  CHECK(g.achieved_fraction_of_peak.reason == "unknown GPU 'X'");
  CHECK(g.achieved_flop_per_s.value);
}

TEST_CASE("utilisation counters: too few timed steps, a pause inside the sample", "[metrics][counters]") {
  FakeClock clock;
  NoDevice device;
  CounterPlan plan;
  plan.first_step = 5;
  plan.steps_per_pass = 3;
  {
    TimedWindow window(clock, device, 1);
    std::vector<std::string> log;
    auto session = std::make_unique<FakeSession>();
    session->log = &log;
    CounterSampler sampler(std::move(session), plan);
    window.add_observer(&sampler);
    run_steps(window, 4, 2);  // the sample would start at timed step 5
    const auto o = sampler.outcome();
    CHECK(contains(o.reason, "the run had 4 timed steps"));
    CHECK(contains(o.reason, "--counter-start-step 5"));
    CHECK(contains(o.reason, "--counter-steps 3"));
    const auto f = counter_figures(o, 1, 1, Figure::of(1, "FLOP/s"));
    CHECK_FALSE(f.achieved_flop_per_s.value);
    CHECK(f.achieved_flop_per_s.reason == o.reason);
    CHECK(f.model_to_measured_flop.reason == o.reason);
  }
  {
    TimedWindow window(clock, device, 1);
    std::vector<std::string> log;
    auto session = std::make_unique<FakeSession>();
    session->log = &log;
    CounterSampler sampler(std::move(session), plan);
    window.add_observer(&sampler);
    run_steps(window, 10, 2, 6);  // an epoch ends after timed step 6, inside steps 5-7
    CHECK(contains(sampler.outcome().reason, "straddle the end of an epoch"));
    CHECK(log == (std::vector<std::string>{"open", "begin", "end"}));  // the range is closed, not read
  }
}

TEST_CASE("utilisation counters: absent with the reason, never a failure", "[metrics][counters]") {
  CHECK(counter_absence(false, true, true) == "no GPU");
  CHECK(contains(counter_absence(true, false, true), "--gpu-counters true"));
  CHECK(counter_absence(true, true, false) == "built without CUPTI (HMB_WITH_CUPTI=OFF)");
  CHECK(counter_absence(true, true, true).empty());

  const auto perm = counter_failure_reason(CounterFailure::permission, "querying counter availability",
                                           "CUPTI_ERROR_INSUFFICIENT_PRIVILEGES");
  CHECK(contains(perm, "CUPTI: querying counter availability: CUPTI_ERROR_INSUFFICIENT_PRIVILEGES"));
  CHECK(contains(perm, "ERR_NVGPUCTRPERM"));
  CHECK(contains(perm, "NVreg_RestrictProfilingToAdminUsers=0"));
  CHECK(contains(perm, "admin rights"));
  CHECK(contains(counter_failure_reason(CounterFailure::busy, "enabling", "busy"), "another profiler"));
  CHECK(counter_failure_reason(CounterFailure::other, "decoding", "unknown") == "CUPTI: decoding: unknown");

  // CUPTI refuses when the window opens: the figures carry its reason, training goes on.
  FakeClock clock;
  NoDevice device;
  TimedWindow window(clock, device, 1);
  std::vector<std::string> log;
  auto session = std::make_unique<FakeSession>();
  session->log = &log;
  session->open_error = perm;
  CounterSampler sampler(std::move(session), CounterPlan{});
  window.add_observer(&sampler);
  run_steps(window, 12, 2);
  CHECK(log == (std::vector<std::string>{"open"}));
  CHECK(sampler.outcome().reason == perm);

  // Built here, a CPU run or a run without --gpu-counters reads nothing and says why.
  const auto cpu = make_counter_sampler(false, true, -1, CounterPlan{});
  CHECK(cpu->outcome().reason == "no GPU");
  const auto off = make_counter_sampler(true, false, 0, CounterPlan{});
  CHECK(contains(off->outcome().reason, "--gpu-counters true"));
}
