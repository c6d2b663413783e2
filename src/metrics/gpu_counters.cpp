#include "metrics/gpu_counters.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "metrics/formulas.hpp"

namespace hmb::metrics {

const std::vector<CounterMetric>& counter_metrics() {
  // The FMA pipe's thread instructions (hardware counts, see CountedFlop) and the tensor-path op
  // counters: the tensor cores' math per source type, the total over every MMA instruction. The
  // HGMMA-only counters (Hopper) are read beside them as information: how much of the tensor
  // math came from warp-group MMA (on an H200, 89% of the BF16 total: the totals include it).
  static const std::vector<CounterMetric> m = {
      {{"gpu__time_duration.sum"}, CounterKind::time, true},
      {{"sm__thread_inst_executed_pipe_fma_pred_on.sum"}, CounterKind::fma_pipe, true},
      {{"sm__ops_path_tensor_src_fp16_dst_fp32.sum", "sm__ops_path_tensor_src_fp16.sum"}, CounterKind::tensor_ops,
       false},
      {{"sm__ops_path_tensor_src_bf16_dst_fp32.sum"}, CounterKind::tensor_ops, false},
      {{"sm__ops_path_tensor_src_tf32_dst_fp32.sum"}, CounterKind::tensor_ops, false},
      {{"sm__inst_executed_pipe_tensor.sum"}, CounterKind::info, false},
      {{"sm__ops_path_tensor_op_hgmma_src_fp16.sum"}, CounterKind::info, false},
      {{"sm__ops_path_tensor_op_hgmma_src_bf16_dst_fp32.sum"}, CounterKind::info, false},
      {{"sm__ops_path_tensor_op_hgmma_src_tf32_dst_fp32.sum"}, CounterKind::info, false},
  };
  return m;
}

namespace {
// The value of a quantity: its first name present in `v` (the one the session chose to read).
const double* value_of(const CounterMetric& m, const CounterValues& v) {
  for (const char* n : m.names) {
    const auto it = v.values.find(n);
    if (it != v.values.end()) return &it->second;
  }
  return nullptr;
}
}  // namespace

CountedFlop counted_flop(const CounterValues& v) {
  constexpr double kFlopPerFmaPipeInstruction = 2.0;  // as if every one were an FFMA: the bound
  CountedFlop f;
  for (const auto& m : counter_metrics()) {
    const double* found = value_of(m, v);
    if (found == nullptr) continue;
    switch (m.kind) {
      case CounterKind::fma_pipe: f.fp32 += kFlopPerFmaPipeInstruction * *found; break;
      case CounterKind::tensor_ops: f.tensor += *found; f.has_tensor = true; break;
      case CounterKind::time:
      case CounterKind::info: break;
    }
  }
  return f;
}

std::optional<double> counter_range_seconds(const CounterValues& v) {
  for (const auto& m : counter_metrics()) {
    if (m.kind != CounterKind::time) continue;
    if (const double* found = value_of(m, v)) return *found * 1e-9;
  }
  return std::nullopt;
}

bool CounterPlan::starts_pass(std::int64_t k) const {
  if (k < first_step || steps_per_pass <= 0) return false;
  const auto since = k - first_step;
  return since % steps_per_pass == 0 && since / steps_per_pass < passes;
}

bool CounterPlan::ends_pass_before(std::int64_t k) const {
  if (k <= first_step || steps_per_pass <= 0) return false;
  const auto since = k - first_step;
  return since % steps_per_pass == 0 && since / steps_per_pass <= passes;
}

std::string counter_failure_reason(CounterFailure f, const std::string& what, const std::string& cupti_text) {
  std::string r = "CUPTI: " + what + ": " + cupti_text;
  switch (f) {
    case CounterFailure::permission:
      r += " (ERR_NVGPUCTRPERM: reading GPU performance counters needs permission: load the NVIDIA driver with "
           "NVreg_RestrictProfilingToAdminUsers=0, or run with admin rights (root or CAP_SYS_ADMIN))";
      break;
    case CounterFailure::busy:
      r += " (another profiler, such as Nsight Compute or Nsight Systems, holds the GPU's counters)";
      break;
    case CounterFailure::unsupported:
      r += " (this GPU or its configuration does not allow counter profiling)";
      break;
    case CounterFailure::other: break;
  }
  return r;
}

std::string counter_absence(bool on_gpu, bool enabled, bool built_with_cupti) {
  if (!on_gpu) return "no GPU";
  if (!enabled) return "not read (off by default: --gpu-counters true reads them)";
  if (!built_with_cupti) return "built without CUPTI (HMB_WITH_CUPTI=OFF)";
  return "";
}

// ---- the sampler ---------------------------------------------------------------------------

CounterSampler::CounterSampler(std::unique_ptr<CounterSession> session, CounterPlan plan, std::string why)
    : session_(std::move(session)), plan_(plan), why_(std::move(why)) {
  if (!session_ && why_.empty()) why_ = "not measured";
}

void CounterSampler::fail(const std::string& why) {
  if (why_.empty()) {
    why_ = why;
    spdlog::warn("GPU counters: {}; the counter figures are left out", why_);
  }
  if (session_ && in_pass_) {
    bool ignored = false;
    session_->end_pass(ignored);  // keeps the profiler's push/pop balanced before it is closed
  }
  in_pass_ = false;
  session_.reset();  // gives the profiler back now
}

void CounterSampler::begin(double /*t*/) { prepare(); }

void CounterSampler::prepare() {
  // CUPTI's profiler set-up (the host library, the configuration image, enabling the range
  // profiler) takes a while: done before the window's clock starts.
  if (opened_ || !session_ || !why_.empty()) return;
  const auto why = session_->open();
  if (!why.empty()) return fail(why);
  plan_.passes = std::max(1, session_->passes());
  opened_ = true;
  spdlog::info("GPU counters: timed steps {} to {} ({} pass(es) of {} steps)", plan_.first_step, plan_.last_step(),
               plan_.passes, plan_.steps_per_pass);
}

void CounterSampler::finish_pass() {
  bool all = false;
  const auto why = session_->end_pass(all);
  in_pass_ = false;
  ++passes_done_;
  if (!why.empty()) return fail(why);
  if (all) {
    done_ = true;
  } else if (passes_done_ >= plan_.passes) {
    fail("CUPTI: the counters needed more than the " + std::to_string(plan_.passes) + " pass(es) it announced");
  }
}

void CounterSampler::step_begins(std::int64_t step) {
  if (!opened_ || !session_ || done_) return;
  const auto k = ++timed_step_;
  if (in_pass_ && plan_.ends_pass_before(k)) finish_pass();
  if (!session_ || done_) return;
  if (!in_pass_ && plan_.starts_pass(k)) {
    const auto why = session_->begin_pass();
    if (!why.empty()) return fail(why);
    in_pass_ = true;
  }
  if (in_pass_) sampled_.push_back(step);
}

void CounterSampler::step(const StepSample& s) {
  if (std::find(sampled_.begin(), sampled_.end(), s.step) != sampled_.end())
    sampled_events_ += static_cast<double>(s.events);
}

void CounterSampler::pause(double /*t*/) {
  if (!session_) return;
  if (in_pass_) {
    if (plan_.ends_pass_before(timed_step_ + 1)) {
      finish_pass();  // the pass's last step was the last before the pause
    } else {
      return fail("the sampled timed steps " + std::to_string(plan_.first_step) + " to " +
                  std::to_string(plan_.last_step()) +
                  " straddle the end of an epoch (validation is not sampled): move --counter-start-step, or "
                  "train more steps per epoch");
    }
  }
  if (session_ && done_ && !read_) {
    const auto why = session_->read(values_);
    read_ = true;
    if (!why.empty()) return fail(why);
    session_.reset();  // the range is read: the profiler is given back
  }
}

CounterOutcome CounterSampler::outcome() const {
  CounterOutcome o;
  o.plan = plan_;
  if (!why_.empty()) {
    o.reason = why_;
  } else if (read_) {
    o.values = values_;
    o.events_per_pass = passes_done_ > 0 ? sampled_events_ / static_cast<double>(passes_done_) : 0;
  } else if (!opened_) {
    o.reason = "the timed window never opened";
  } else {
    o.reason = "the run had " + std::to_string(timed_step_) + " timed steps; the counters sample timed steps " +
               std::to_string(plan_.first_step) + " to " + std::to_string(plan_.last_step()) +
               " (--counter-start-step " + std::to_string(plan_.first_step) + ", --counter-steps " +
               std::to_string(plan_.steps_per_pass) + " x " + std::to_string(plan_.passes) + " pass(es))";
  }
  return o;
}

// ---- the figures ---------------------------------------------------------------------------

CounterFigures counter_figures(const CounterOutcome& o, double flop_per_event, int ranks, const Figure& peak) {
  CounterFigures f;
  if (!o.reason.empty()) {
    f.counted_flop = Figure::absent("FLOP", o.reason);
    f.counted_fp32_flop = Figure::absent("FLOP", o.reason);
    f.counted_half_flop = Figure::absent("FLOP", o.reason);
    f.counted_tensor_flop = Figure::absent("FLOP", o.reason);
    f.range_time = Figure::absent("s", o.reason);
    f.achieved_flop_per_s = Figure::absent("FLOP/s", o.reason);
    f.achieved_fraction_of_peak = Figure::absent("fraction", o.reason);
    f.model_to_measured_flop = Figure::absent("ratio", o.reason);
    return f;
  }
  const auto c = counted_flop(o.values);
  std::string missing;
  for (const auto& m : o.values.missing) missing += (missing.empty() ? "" : ", ") + m;
  const std::string lacks = "this GPU has no such counter (" + missing + ")";
  f.counted_flop = Figure::of(c.total(), "FLOP");
  f.counted_fp32_flop = Figure::of(c.fp32, "FLOP");
  f.counted_half_flop = Figure::absent(
      "FLOP", "not counted apart: half-precision instructions of the FMA pipe are inside gpu_counted_fp32_flop (the "
              "SASS opcode counts that would separate them need instruction patching, which the range profiler "
              "does not do)");
  f.counted_tensor_flop = c.has_tensor ? Figure::of(c.tensor, "FLOP") : Figure::absent("FLOP", lacks);
  const auto seconds = counter_range_seconds(o.values);
  f.range_time = Figure::maybe(seconds, "s", "gpu__time_duration.sum was not read");
  if (seconds && *seconds > 0) {
    f.achieved_flop_per_s = Figure::of(c.total() / *seconds, "FLOP/s");
  } else {
    f.achieved_flop_per_s = Figure::absent("FLOP/s", "the sampled range has no GPU time");
  }
  if (!f.achieved_flop_per_s.value) {
    f.achieved_fraction_of_peak = Figure::absent("fraction", f.achieved_flop_per_s.reason);
  } else if (!peak.value) {
    f.achieved_fraction_of_peak = Figure::absent("fraction", peak.reason);
  } else {
    f.achieved_fraction_of_peak =
        Figure::maybe(mfu(*f.achieved_flop_per_s.value, *peak.value), "fraction", "no peak");
  }
  const double model = flop_per_event * o.events_per_pass / static_cast<double>(std::max(1, ranks));
  if (!(model > 0)) {
    f.model_to_measured_flop = Figure::absent("ratio", "no cost-model FLOP for the sampled steps");
  } else {
    f.model_to_measured_flop =
        Figure::maybe(flop_ratio(model, c.total()), "ratio", "the counters counted no FLOP in the sampled steps");
  }
  return f;
}

}  // namespace hmb::metrics
