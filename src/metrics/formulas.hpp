#pragma once
// The utilisation figures, one formula each (docs/report.md defines them with their units).
// Plain arithmetic on measured inputs, so that tests check them on known values.
#include <cstdint>
#include <optional>
#include <vector>

namespace hmb::metrics {

// An open interval of the timed window on the host's monotonic clock, in seconds.
struct TimeSpan {
  double begin = 0, end = 0;
  double length() const { return end > begin ? end - begin : 0; }
};

// FLOP/s the model needs: cost-model FLOP per trained event × trained events per second.
double model_flop_per_s(double flop_per_event, double events_per_s);

// Model FLOP utilisation: model FLOP/s ÷ the hardware's peak FLOP/s. None without a peak.
std::optional<double> mfu(double model_flop_per_s, double peak_flop_per_s);

// FLOP of one product of an (n × k) and a (k × m) matrix: one multiply-add = 2 FLOP.
double matmul_flop(std::int64_t n, std::int64_t k, std::int64_t m);

// Busy fraction: busy time ÷ the window's open time; none for an empty window.
std::optional<double> busy_fraction(double busy_s, double window_s);

// Energy of a sampled power curve over the window's open spans, in joules: the samples
// (time in s, power in W) joined by straight lines, the first and last held flat beyond
// them, integrated over each span. None without samples.
struct PowerSample {
  double t = 0;
  double watts = 0;
};
std::optional<double> integrate_power(const std::vector<PowerSample>& samples, const std::vector<TimeSpan>& open);

// Trained events per joule; none when no energy was measured.
std::optional<double> events_per_joule(double events, const std::optional<double>& joules);

// Expected ÷ measured FLOP: the cost model against the device's counters. None without both.
std::optional<double> flop_ratio(double model_flop, const std::optional<double>& measured_flop);

}  // namespace hmb::metrics
