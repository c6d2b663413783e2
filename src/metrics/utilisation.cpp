#include "metrics/utilisation.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "metrics/formulas.hpp"
#include "metrics/gpu_peaks.hpp"

namespace hmb::metrics {

UtilisationMeters::UtilisationMeters(UtilisationConfig cfg, Clock& clock)
    : cfg_(std::move(cfg)), cpu_(cfg_.usable_cores) {
  const bool on_gpu = cfg_.cuda_device >= 0;
  activity_ = make_gpu_activity(on_gpu, cfg_.gpu_activity, cfg_.trace_steps > 0);
  CounterPlan plan;
  plan.first_step = cfg_.counter_start_step;
  plan.steps_per_pass = cfg_.counter_steps;
  counters_ = make_counter_sampler(on_gpu, cfg_.gpu_counters, cfg_.cuda_device, plan);
  std::string why;
  auto probe = on_gpu ? make_nvml_probe(cfg_.cuda_device, why) : nullptr;
  if (!on_gpu) why = "no GPU";
  if (on_gpu && !probe) spdlog::warn("GPU power: {}; power and energy figures are left out", why);
  power_ = std::make_unique<PowerSampler>(std::move(probe), why, clock, cfg_.power_period_s);
  if (cfg_.trace_steps > 0) trace_ = std::make_unique<TraceRecorder>(clock, cfg_.trace_steps);
  if (cfg_.profile_steps > 0) {
    std::string no_api = on_gpu ? "" : "no GPU";
    auto api = on_gpu ? make_cuda_profiler_api(no_api) : nullptr;
    if (api) {
      profiler_range_ =
          std::make_unique<ProfilerRange>(std::move(api), cfg_.profile_start_step, cfg_.profile_steps);
    } else {
      spdlog::warn("--profile-steps: {}; no profiler range is marked", no_api);
    }
  }
}

void UtilisationMeters::attach(TimedWindow& window) {
  window.add_observer(&cpu_);
  window.add_observer(activity_.get());
  window.add_observer(counters_.get());
  window.add_observer(power_.get());
  if (trace_) window.add_observer(trace_.get());
  if (profiler_range_) window.add_observer(profiler_range_.get());
}

UtilisationRecord UtilisationMeters::finish(double timed_events, double events_per_s, double flop_per_event) const {
  UtilisationRecord u;
  const bool on_gpu = cfg_.cuda_device >= 0;

  // MFU against the peak of this device and precision.
  // No timed event: no rate of any kind was measured (a run that stopped during warm-up).
  const bool timed = timed_events > 0;
  const double model = model_flop_per_s(flop_per_event, events_per_s);
  u.model_flop_per_s = timed ? Figure::of(model, "FLOP/s") : Figure::absent("FLOP/s", "empty timed window");
  if (on_gpu) {
    std::string why;
    if (auto peak = find_gpu_peak(cfg_.gpu_name, cfg_.precision, why)) {
      u.peak_flop_per_s = Figure::of(peak->flop_per_s, "FLOP/s", "table: " + peak->row + ", " + cfg_.precision);
    } else {
      u.peak_flop_per_s = Figure::absent("FLOP/s", why);
    }
  } else if (cpu_peak_) {
    u.peak_flop_per_s = Figure::of(cpu_peak_->flop_per_s, "FLOP/s", "measured: " + cpu_peak_->describe());
  } else {
    u.peak_flop_per_s = Figure::absent("FLOP/s", "CPU peak not measured");
  }
  if (!timed) {
    u.mfu = Figure::absent("fraction", "empty timed window");
  } else if (u.peak_flop_per_s.value) {
    u.mfu = Figure::maybe(mfu(model, *u.peak_flop_per_s.value), "fraction", "no peak");
  } else {
    u.mfu = Figure::absent("fraction", u.peak_flop_per_s.reason);
  }

  u.cpu_utilisation = cpu_.utilisation();
  u.cpu_busy_cores = cpu_.busy_cores();

  // GPU activity.
  const std::string no_activity = activity_->unavailable();
  if (no_activity.empty()) {
    const auto a = activity_->summary(cfg_.top_kernels);
    u.gpu_busy_fraction = Figure::maybe(busy_fraction(a.busy_s, a.window_s), "fraction", "empty timed window");
    u.gpu_compute_time = Figure::of(a.compute_s, "s");
    u.gpu_communication_time = Figure::of(a.communication_s, "s");
    u.gpu_copy_time = Figure::of(a.copy_s, "s");
    u.gpu_kernels = Figure::of(static_cast<double>(a.kernels), "kernels");
    u.gpu_top_kernels = a.top;
  } else {
    u.gpu_busy_fraction = Figure::absent("fraction", no_activity);
    u.gpu_compute_time = Figure::absent("s", no_activity);
    u.gpu_communication_time = Figure::absent("s", no_activity);
    u.gpu_copy_time = Figure::absent("s", no_activity);
    u.gpu_kernels = Figure::absent("kernels", no_activity);
  }
  // Hardware counters over the sampled steps.
  const auto sample = counters_->outcome();
  const auto c = counter_figures(sample, flop_per_event, cfg_.ranks, u.peak_flop_per_s);
  u.gpu_achieved_flop_per_s = c.achieved_flop_per_s;
  u.gpu_achieved_fraction_of_peak = c.achieved_fraction_of_peak;
  u.model_to_measured_flop = c.model_to_measured_flop;
  u.gpu_counted_flop = c.counted_flop;
  u.gpu_counted_fp32_flop = c.counted_fp32_flop;
  u.gpu_counted_half_flop = c.counted_half_flop;
  u.gpu_counted_tensor_flop = c.counted_tensor_flop;
  u.gpu_counter_time = c.range_time;
  if (sample.reason.empty()) {
    u.gpu_counter_first_step = sample.plan.first_step;
    u.gpu_counter_steps_per_pass = sample.plan.steps_per_pass;
    u.gpu_counter_passes = sample.plan.passes;
    u.gpu_counter_metrics = sample.values.values;
    u.gpu_counter_missing = sample.values.missing;
  }

  // Power and energy.
  const auto p = power_->summary();
  u.gpu_name = on_gpu ? (p.gpu_name.empty() ? cfg_.gpu_name : p.gpu_name) : "";
  u.gpu_memory_used_peak = p.memory_used_peak;
  u.gpu_mean_power = p.mean_power;
  u.gpu_max_power = p.max_power;
  u.gpu_energy = p.energy;
  u.gpu_sm_clock = p.sm_clock;
  u.gpu_temperature_max = p.temperature_max;
  u.events_per_joule = p.energy.value ? Figure::maybe(events_per_joule(timed_events, p.energy.value), "events/J", "no energy")
                                      : Figure::absent("events/J", p.energy.reason);
  return u;
}

namespace {
// How a per-rank figure becomes the job's.
enum class OverRanks { sum, mean, largest };

// `f` (rank 0's) becomes the job's from every rank's `pick`; false when a rank has none (then
// rank 0's stays, and its source says which rank measured none).
bool combine_over_ranks(Figure& f, const std::vector<RankGpuFigures>& ranks,
                        std::optional<double> RankGpuFigures::*pick, OverRanks how) {
  if (ranks.size() < 2 || !f.value) return false;
  double total = 0, largest = 0;
  for (size_t r = 0; r < ranks.size(); ++r) {
    const auto& v = ranks[r].*pick;
    if (!v) {
      f.source += std::string(f.source.empty() ? "" : " ") + "(rank 0's alone: rank " + std::to_string(r) +
                  " measured none)";
      return false;
    }
    total += *v;
    largest = r == 0 ? *v : std::max(largest, *v);
  }
  const std::string n = std::to_string(ranks.size());
  const double value = how == OverRanks::sum    ? total
                       : how == OverRanks::mean ? total / static_cast<double>(ranks.size())
                                                : largest;
  const std::string over = how == OverRanks::sum    ? "summed over " + n + " ranks"
                           : how == OverRanks::mean ? "mean over " + n + " ranks"
                                                    : "largest of " + n + " ranks";
  f = Figure::of(value, f.unit, f.source.empty() ? over : f.source + ", " + over);
  return true;
}
}  // namespace

void apply_job_figures(UtilisationRecord& u, double events_per_s_per_rank, double flop_per_event,
                       double timed_events, const std::vector<RankGpuFigures>& ranks) {
  if (u.model_flop_per_s.value) {
    const double model = model_flop_per_s(flop_per_event, events_per_s_per_rank);
    u.model_flop_per_s = Figure::of(model, "FLOP/s");
    if (u.peak_flop_per_s.value) u.mfu = Figure::maybe(mfu(model, *u.peak_flop_per_s.value), "fraction", "no peak");
  }
  // Events per joule: the job's events over the job's energy; with rank 0's energy alone, it
  // stays rank 0's share of the events over that energy.
  if (combine_over_ranks(u.gpu_energy, ranks, &RankGpuFigures::energy_j, OverRanks::sum))
    u.events_per_joule = Figure::maybe(events_per_joule(timed_events, *u.gpu_energy.value), "events/J", "no energy");
  combine_over_ranks(u.gpu_busy_fraction, ranks, &RankGpuFigures::busy_fraction, OverRanks::mean);
  combine_over_ranks(u.gpu_mean_power, ranks, &RankGpuFigures::mean_power_w, OverRanks::mean);
  combine_over_ranks(u.gpu_sm_clock, ranks, &RankGpuFigures::sm_clock_mhz, OverRanks::mean);
  combine_over_ranks(u.gpu_max_power, ranks, &RankGpuFigures::max_power_w, OverRanks::largest);
  combine_over_ranks(u.gpu_temperature_max, ranks, &RankGpuFigures::temperature_max_c, OverRanks::largest);
  combine_over_ranks(u.gpu_memory_used_peak, ranks, &RankGpuFigures::memory_used_peak_mib, OverRanks::largest);
}

nlohmann::json UtilisationMeters::trace() const {
  if (!trace_) return chrome_trace({});
  auto spans = trace_->spans();
  if (trace_->to() > trace_->from()) {
    // The device runs behind the host: its work of the recorded steps may end after them, so
    // the GPU rows take as long again after the host's last recorded step.
    auto gpu = activity_->trace_spans(trace_->from(), trace_->to() + (trace_->to() - trace_->from()));
    spans.insert(spans.end(), gpu.begin(), gpu.end());
  }
  return chrome_trace(spans);
}

}  // namespace hmb::metrics
