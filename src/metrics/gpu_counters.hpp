#pragma once
// Achieved FLOP/s from the GPU's hardware counters, read with CUPTI's range profiler over a
// short sample of timed steps (`--gpu-counters true`; off by default because it slows the
// steps it samples).
//
//   timed steps:  1 … S-1 │ S … S+K-1 │ S+K … S+2K-1 │ …  (P passes of K steps) │ …
//                         └─ pass 1 ──┘└── pass 2 ───┘
//
// One user range per pass, pushed before the pass's first step and popped before the step after
// its last. Counters that the GPU cannot read in one pass are read over P consecutive passes
// (CUPTI's user replay): each pass repeats K alike training steps instead of replaying the same
// work. docs/report.md defines the figures.
//
// This file is the plain part, tested on the CPU: the metric names, counts → FLOP, the sampler
// that starts and stops passes at the right steps, and the reasons of absent figures. The CUPTI
// calls sit behind CounterSession: cupti_counters.cpp where hep-mlbench is built with CUPTI,
// cupti_counters_stub.cpp otherwise.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "metrics/figure.hpp"
#include "metrics/window.hpp"

namespace hmb::metrics {

// What a counter measures, for the FLOP arithmetic.
enum class CounterKind { time, fma_pipe, tensor_ops, info };

// One quantity read from the counters. `names`: CUPTI (Perfworks) metric names with their
// roll-up, in order of preference: the first one the chip has is read (chips name the same
// quantity differently, e.g. Hopper's tensor path from FP16 has no dst_fp32 variant).
struct CounterMetric {
  std::vector<const char*> names;
  CounterKind kind;
  bool required;  // without it there is no figure; an optional one the chip lacks is left out
};

// The metrics hep-mlbench reads, in order.
const std::vector<CounterMetric>& counter_metrics();

// Which metric names to read on a chip, given which names it has (`has`): for each quantity the
// first of its names the chip has; a quantity without any goes to `missing` (its names joined
// by " or "). `required_missing` names the first required quantity the chip lacks (empty when
// none); then the counters cannot give a figure.
struct CounterSelection {
  std::vector<const char*> names;
  std::vector<std::string> missing;
  std::string required_missing;
};
template <class Has>
CounterSelection select_counter_metrics(Has&& has);

// One range's values: metric name → value (sums over the whole GPU). Metrics the chip lacks are
// missing from `values` and named in `missing`.
struct CounterValues {
  std::map<std::string, double> values;
  std::vector<std::string> missing;
};

// FLOP counted from the values. `fp32`: 2 FLOP per thread instruction of the FMA pipe
// (sm__thread_inst_executed_pipe_fma_pred_on.sum), an upper bound of the FP32 FLOP: an FFMA is
// 2, but an FADD or FMUL (1) and an integer IMAD (0) run on the same pipe and count 2 too. The
// SASS opcode counts that would tell them apart need instruction patching, which CUPTI's range
// profiler does not do (they read 0 on an H200). `tensor`: the tensor-path op counters, FLOP
// already. Half-precision FMA-pipe work is inside `fp32`; it has no count of its own.
struct CountedFlop {
  double fp32 = 0, tensor = 0;
  bool has_tensor = false;  // its counters were read
  double total() const { return fp32 + tensor; }
};
CountedFlop counted_flop(const CounterValues& v);

// The range's GPU time (gpu__time_duration.sum, ns → s); none when it was not read.
std::optional<double> counter_range_seconds(const CounterValues& v);

// Which timed steps are sampled: `passes` passes of `steps_per_pass` consecutive timed steps
// from timed step `first_step` (1 = the first step of the timed window).
struct CounterPlan {
  std::int64_t first_step = 5;
  std::int64_t steps_per_pass = 3;
  int passes = 1;
  std::int64_t last_step() const { return first_step + steps_per_pass * passes - 1; }
  bool starts_pass(std::int64_t timed_step) const;      // a pass begins before this step
  bool ends_pass_before(std::int64_t timed_step) const;  // a pass ended with the step before it
  bool sampled(std::int64_t timed_step) const { return timed_step >= first_step && timed_step <= last_step(); }
};

// Why CUPTI refused, as far as the reason's advice goes.
enum class CounterFailure { permission, busy, unsupported, other };

// The reason of an absent counter figure when CUPTI refused `what` with `cupti_text`: names the
// fix where there is one (permission: NVreg_RestrictProfilingToAdminUsers=0, or admin rights).
std::string counter_failure_reason(CounterFailure f, const std::string& what, const std::string& cupti_text);

// Why the counters are not read at all, before any CUPTI call; empty when they are to be read.
std::string counter_absence(bool on_gpu, bool enabled, bool built_with_cupti);

// The range profiler behind an interface, so that the sampler's logic is tested without a GPU.
class CounterSession {
 public:
  virtual ~CounterSession() = default;
  // Set up on the current device (once the window opens, the CUDA context exists); "" when
  // ready, else why not. passes(): how many passes the metrics need (valid once open).
  virtual std::string open() = 0;
  virtual int passes() const = 0;
  virtual std::string begin_pass() = 0;
  virtual std::string end_pass(bool& all_passes_done) = 0;
  // Decode and evaluate the range (after the last pass).
  virtual std::string read(CounterValues& out) = 0;
};

// What the sampler measured, or why not.
struct CounterOutcome {
  std::string reason;               // empty when `values` holds the range
  CounterValues values;
  CounterPlan plan;                 // the steps sampled
  double events_per_pass = 0;       // events trained in a pass's steps (all ranks), mean over passes
};

// The window observer that drives a CounterSession.
class CounterSampler final : public WindowObserver {
 public:
  // `session` null: nothing is read and every figure says `why`.
  CounterSampler(std::unique_ptr<CounterSession> session, CounterPlan plan, std::string why = "");
  void prepare() override;           // opens the session (once), outside the timed window
  void begin(double t) override;      // opens it here if prepare() was not called
  void step_begins(std::int64_t step) override;
  void step(const StepSample& s) override;
  void pause(double t) override;
  void end(double t) override { pause(t); }

  CounterOutcome outcome() const;

 private:
  void fail(const std::string& why);
  void finish_pass();
  std::unique_ptr<CounterSession> session_;
  CounterPlan plan_;
  std::string why_;
  bool opened_ = false, in_pass_ = false, done_ = false, read_ = false;
  std::int64_t timed_step_ = 0;         // timed steps begun so far
  std::int64_t passes_done_ = 0;
  std::vector<std::int64_t> sampled_;   // global indices of the sampled steps
  double sampled_events_ = 0;
  CounterValues values_;
};

// The sampler of a run: a CUPTI session on a GPU with --gpu-counters true in a build with
// CUPTI; otherwise one that reads nothing and says why.
std::unique_ptr<CounterSampler> make_counter_sampler(bool on_gpu, bool enabled, int cuda_device, CounterPlan plan);

// The counter figures of a run (docs/report.md), from the outcome; `flop_per_event` is the cost
// model's, `ranks` the ranks whose events a step counts, `peak_flop_per_s` the device's peak for
// the precision in use (absent with its reason when unknown).
struct CounterFigures {
  Figure counted_flop = Figure::absent("FLOP", "not measured");
  Figure counted_fp32_flop = Figure::absent("FLOP", "not measured");
  Figure counted_half_flop = Figure::absent("FLOP", "not measured");
  Figure counted_tensor_flop = Figure::absent("FLOP", "not measured");
  Figure range_time = Figure::absent("s", "not measured");
  Figure achieved_flop_per_s = Figure::absent("FLOP/s", "not measured");
  Figure achieved_fraction_of_peak = Figure::absent("fraction", "not measured");
  Figure model_to_measured_flop = Figure::absent("ratio", "not measured");
};
CounterFigures counter_figures(const CounterOutcome& o, double flop_per_event, int ranks, const Figure& peak_flop_per_s);

template <class Has>
CounterSelection select_counter_metrics(Has&& has) {
  CounterSelection sel;
  for (const auto& m : counter_metrics()) {
    const char* found = nullptr;
    std::string all;
    for (const char* n : m.names) {
      if (found == nullptr && has(n)) found = n;
      all += (all.empty() ? "" : " or ") + std::string(n);
    }
    if (found != nullptr) {
      sel.names.push_back(found);
    } else {
      sel.missing.push_back(all);
      if (m.required && sel.required_missing.empty()) sel.required_missing = all;
    }
  }
  return sel;
}

}  // namespace hmb::metrics
