#include "metrics/formulas.hpp"

#include <algorithm>

namespace hmb::metrics {

double model_flop_per_s(double flop_per_event, double events_per_s) { return flop_per_event * events_per_s; }

std::optional<double> mfu(double model_flop_per_s, double peak_flop_per_s) {
  if (!(peak_flop_per_s > 0)) return std::nullopt;
  return model_flop_per_s / peak_flop_per_s;
}

double matmul_flop(std::int64_t n, std::int64_t k, std::int64_t m) {
  return 2.0 * static_cast<double>(n) * static_cast<double>(k) * static_cast<double>(m);
}

std::optional<double> busy_fraction(double busy_s, double window_s) {
  if (!(window_s > 0)) return std::nullopt;
  return busy_s / window_s;
}

namespace {
// Integral over [a, b] of the line through (t0, p0) and (t1, p1) (t1 > t0).
double line_integral(double t0, double p0, double t1, double p1, double a, double b) {
  if (b <= a) return 0;
  const double slope = (p1 - p0) / (t1 - t0);
  const double pa = p0 + slope * (a - t0), pb = p0 + slope * (b - t0);
  return 0.5 * (pa + pb) * (b - a);
}
}  // namespace

std::optional<double> integrate_power(const std::vector<PowerSample>& samples_in, const std::vector<TimeSpan>& open) {
  if (samples_in.empty()) return std::nullopt;
  auto samples = samples_in;
  std::stable_sort(samples.begin(), samples.end(), [](const PowerSample& a, const PowerSample& b) { return a.t < b.t; });
  double joules = 0;
  for (const auto& w : open) {
    if (w.length() <= 0) continue;
    // Held flat before the first sample and after the last.
    const double first = samples.front().t, last = samples.back().t;
    joules += samples.front().watts * std::max(0.0, std::min(w.end, first) - w.begin);
    joules += samples.back().watts * std::max(0.0, w.end - std::max(w.begin, last));
    for (size_t i = 1; i < samples.size(); ++i) {
      const auto& s0 = samples[i - 1];
      const auto& s1 = samples[i];
      if (s1.t <= s0.t) continue;
      joules += line_integral(s0.t, s0.watts, s1.t, s1.watts, std::max(w.begin, s0.t), std::min(w.end, s1.t));
    }
  }
  return joules;
}

std::optional<double> events_per_joule(double events, const std::optional<double>& joules) {
  if (!joules || !(*joules > 0)) return std::nullopt;
  return events / *joules;
}

std::optional<double> flop_ratio(double model_flop, const std::optional<double>& measured_flop) {
  if (!measured_flop || !(*measured_flop > 0)) return std::nullopt;
  return model_flop / *measured_flop;
}

}  // namespace hmb::metrics
