#pragma once
// How well the run used the hardware, measured inside the timed window of every run:
//
//   CpuUsageMeter ─┐
//   GpuActivity  ──┼─ window observers ─► UtilisationMeters::finish() ─► UtilisationRecord
//   CounterSampler ┤                                          (the report reads only this)
//   PowerSampler ──┤
//   TraceRecorder ─┘ (+ StepPhases marks from the trainer, only with --trace)
//
// Each figure is present with its unit or absent with the reason (no GPU, no NVML, CUPTI
// held by another tool); none of them can fail a run. docs/report.md defines them.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "metrics/cpu_peak.hpp"
#include "metrics/figure.hpp"
#include "metrics/gpu_activity.hpp"
#include "metrics/gpu_counters.hpp"
#include "metrics/host_usage.hpp"
#include "metrics/power.hpp"
#include "metrics/profiler_range.hpp"
#include "metrics/trace.hpp"
#include "metrics/utilisation_record.hpp"
#include "metrics/window.hpp"

namespace hmb::metrics {

struct UtilisationConfig {
  int cuda_device = -1;         // the training GPU, or -1 on the CPU
  std::string gpu_name;         // CUDA's name of it (for the peak table)
  std::string precision = "fp32";
  int usable_cores = 0;
  bool gpu_activity = true;     // CUPTI activity records on a GPU
  bool gpu_counters = false;    // CUPTI hardware counters on a few sampled timed steps
  std::int64_t counter_start_step = 5;  // the first sampled timed step (1 = the window's first)
  std::int64_t counter_steps = 3;       // timed steps per pass
  std::int64_t profile_start_step = 5;  // the external profiler's range (profiler_range.hpp)
  std::int64_t profile_steps = 0;       // 0: no range
  int ranks = 1;                // ranks whose events a step counts (the cost model's FLOP per rank)
  double power_period_s = 0.1;  // NVML reading interval
  std::int64_t trace_steps = 0; // > 0: record that many timed steps for the trace
  size_t top_kernels = 10;
};

// The job's figures of a data-parallel run, once every rank's are known (rank 0 writes them):
// - the model's rate from the job's throughput, per rank (`events_per_s_per_rank`), with MFU
//   against the same peak;
// - from `ranks` (one entry per rank): the GPU energy summed over the ranks, with events per
//   joule from it and the job's `timed_events`; the per-GPU figures over the ranks: busy
//   fraction, mean power and SM clock their mean, peak power, temperature and memory their
//   largest. Each figure's source says so. Where a rank lacks a figure, rank 0's stays, and its
//   source names the rank.
void apply_job_figures(UtilisationRecord& u, double events_per_s_per_rank, double flop_per_event,
                       double timed_events, const std::vector<RankGpuFigures>& ranks);

class UtilisationMeters {
 public:
  UtilisationMeters(UtilisationConfig cfg, Clock& clock);
  void attach(TimedWindow& window);
  // Where the trainer marks step phases: null unless a trace is recorded.
  StepPhases* phases() { return trace_ ? trace_.get() : nullptr; }
  // The CPU's peak (CPU runs): measured before training by measure_matmul_peak().
  void set_cpu_peak(const MatmulPeak& p) { cpu_peak_ = p; }

  // The figures, once the window has ended.
  UtilisationRecord finish(double timed_events, double events_per_s, double flop_per_event) const;
  // The Chrome trace of the recorded steps (with the GPU's work where CUPTI ran).
  nlohmann::json trace() const;
  // How many timed steps that trace holds (0 without --trace).
  std::int64_t traced_steps() const { return trace_ ? trace_->steps() : 0; }

 private:
  UtilisationConfig cfg_;
  std::optional<MatmulPeak> cpu_peak_;
  CpuUsageMeter cpu_;
  std::unique_ptr<GpuActivity> activity_;
  std::unique_ptr<CounterSampler> counters_;
  std::unique_ptr<PowerSampler> power_;
  std::unique_ptr<TraceRecorder> trace_;
  std::unique_ptr<ProfilerRange> profiler_range_;  // --profile-steps on a GPU
};

}  // namespace hmb::metrics
