#pragma once
// The utilisation figures of a run, as the report reads them (metrics/utilisation.hpp makes
// them). Each Figure has its unit, and a reason where it has no value.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "metrics/figure.hpp"

namespace hmb::metrics {

struct KernelTime {
  std::string name;        // readable
  std::string kind;        // compute | communication | copy
  double seconds = 0;      // summed durations inside the window (overlaps counted per kernel)
  std::int64_t count = 0;
};

// The reason of a figure the run never came to measure (it failed before the window ended).
inline constexpr const char* kNotMeasured = "not measured";

struct UtilisationRecord {
  // model FLOP against the hardware's peak
  Figure model_flop_per_s = Figure::absent("FLOP/s", kNotMeasured);  // cost-model FLOP per event × events/s
  Figure peak_flop_per_s = Figure::absent("FLOP/s", kNotMeasured);  // measured (CPU) or from the table (GPU); source says which
  Figure mfu = Figure::absent("fraction", kNotMeasured);  // model FLOP/s ÷ peak FLOP/s
  // host
  Figure cpu_utilisation = Figure::absent("fraction", kNotMeasured);  // fraction of the usable cores
  Figure cpu_busy_cores = Figure::absent("cores", kNotMeasured);
  // GPU activity (CUPTI)
  Figure gpu_busy_fraction = Figure::absent("fraction", kNotMeasured);
  Figure gpu_compute_time = Figure::absent("s", kNotMeasured);
  Figure gpu_communication_time = Figure::absent("s", kNotMeasured);
  Figure gpu_copy_time = Figure::absent("s", kNotMeasured);
  Figure gpu_kernels = Figure::absent("kernels", kNotMeasured);  // kernels launched inside the window
  std::vector<KernelTime> gpu_top_kernels;
  // hardware counters (CUPTI range profiler, --gpu-counters true) over the sampled timed steps
  Figure gpu_achieved_flop_per_s = Figure::absent("FLOP/s", kNotMeasured);  // counted FLOP ÷ the range's GPU time
  Figure gpu_achieved_fraction_of_peak = Figure::absent("fraction", kNotMeasured);  // ÷ peak_flop_per_s
  Figure model_to_measured_flop = Figure::absent("ratio", kNotMeasured);  // cost-model FLOP ÷ counted FLOP
  Figure gpu_counted_flop = Figure::absent("FLOP", kNotMeasured);         // fp32 + half + tensor, one pass
  Figure gpu_counted_fp32_flop = Figure::absent("FLOP", kNotMeasured);
  Figure gpu_counted_half_flop = Figure::absent("FLOP", kNotMeasured);
  Figure gpu_counted_tensor_flop = Figure::absent("FLOP", kNotMeasured);
  Figure gpu_counter_time = Figure::absent("s", kNotMeasured);            // gpu__time_duration.sum of the range
  // which timed steps were sampled, and every metric read (name → value); empty when none
  std::int64_t gpu_counter_first_step = 0, gpu_counter_steps_per_pass = 0;
  int gpu_counter_passes = 0;
  std::map<std::string, double> gpu_counter_metrics;
  std::vector<std::string> gpu_counter_missing;  // optional metrics this GPU does not have
  // NVML
  std::string gpu_name;
  Figure gpu_memory_used_peak = Figure::absent("MiB", kNotMeasured);
  Figure gpu_mean_power = Figure::absent("W", kNotMeasured);
  Figure gpu_max_power = Figure::absent("W", kNotMeasured);
  Figure gpu_energy = Figure::absent("J", kNotMeasured);
  Figure gpu_sm_clock = Figure::absent("MHz", kNotMeasured);
  Figure gpu_temperature_max = Figure::absent("degC", kNotMeasured);
  Figure events_per_joule = Figure::absent("events/J", kNotMeasured);
};

// One rank's figures of its own GPU, gathered so that rank 0 can report the job's
// (apply_job_figures); each is empty where that rank measured none.
struct RankGpuFigures {
  std::optional<double> busy_fraction;      // CUPTI
  std::optional<double> energy_j;           // NVML, over its window
  std::optional<double> mean_power_w, max_power_w, sm_clock_mhz, temperature_max_c, memory_used_peak_mib;
};

}  // namespace hmb::metrics
