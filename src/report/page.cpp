#include "report/page.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

namespace hmb::report {

namespace {
struct Series {
  std::string name, colour;
  std::vector<double> x, y;
};

std::string escape(const std::string& s) {
  std::string o;
  for (char c : s) o += c == '<' ? std::string("&lt;") : c == '&' ? std::string("&amp;") : std::string(1, c);
  return o;
}

// A figure as a table cell: value and unit, scaled, or "–" and why it is absent.
std::string cell(const metrics::Figure& f, double scale = 1, const std::string& unit = "") {
  std::ostringstream o;
  if (!f.value) return "&ndash; <span style='color:#888'>(" + escape(f.reason) + ")</span>";
  o << std::setprecision(4) << *f.value * scale << " " << escape(unit.empty() ? f.unit : unit);
  if (!f.source.empty()) o << " <span style='color:#888'>(" << escape(f.source) << ")</span>";
  return o.str();
}

// How well the hardware was used: docs/report.md defines each row.
std::string utilisation_table(const train::RunResult& r) {
  const auto& u = r.utilisation;
  std::ostringstream o;
  o << "<h3>Hardware use (timed window)</h3><table>"
    << "<tr><td>model FLOP/s</td><td>" << cell(u.model_flop_per_s, 1e-9, "GFLOP/s") << "</td></tr>"
    << "<tr><td>peak FLOP/s</td><td>" << cell(u.peak_flop_per_s, 1e-9, "GFLOP/s") << "</td></tr>"
    << "<tr><td>MFU</td><td>" << cell(u.mfu, 100, "%") << "</td></tr>"
    << "<tr><td>CPU utilisation</td><td>" << cell(u.cpu_utilisation, 100, "%") << " (" << cell(u.cpu_busy_cores)
    << ")</td></tr>"
    << "<tr><td>data wait</td><td>" << std::setprecision(4) << 100 * r.data_wait_fraction << " %</td></tr>"
    << "<tr><td>GPU busy</td><td>" << cell(u.gpu_busy_fraction, 100, "%") << "</td></tr>"
    << "<tr><td>GPU compute / communication / copy time</td><td>" << cell(u.gpu_compute_time) << " / "
    << cell(u.gpu_communication_time) << " / " << cell(u.gpu_copy_time) << "</td></tr>"
    << "<tr><td>GPU achieved FLOP/s (hardware counters) / of peak</td><td>"
    << cell(u.gpu_achieved_flop_per_s, 1e-9, "GFLOP/s") << " / " << cell(u.gpu_achieved_fraction_of_peak, 100, "%")
    << "</td></tr>"
    << "<tr><td>cost-model FLOP / counted FLOP</td><td>" << cell(u.model_to_measured_flop) << "</td></tr>"
    << "<tr><td>GPU power mean / max</td><td>" << cell(u.gpu_mean_power) << " / " << cell(u.gpu_max_power) << "</td></tr>"
    << "<tr><td>GPU energy</td><td>" << cell(u.gpu_energy) << "</td></tr>"
    << "<tr><td>events per joule</td><td>" << cell(u.events_per_joule) << "</td></tr>"
    << "<tr><td>GPU memory used (peak) / SM clock / temperature (max)</td><td>" << cell(u.gpu_memory_used_peak) << " / "
    << cell(u.gpu_sm_clock) << " / " << cell(u.gpu_temperature_max) << "</td></tr></table>";
  if (!u.gpu_top_kernels.empty()) {
    o << "<h3>Top GPU kernels</h3><table><tr><td><b>kernel</b></td><td><b>kind</b></td><td><b>time (s)</b></td>"
      << "<td><b>launches</b></td></tr>";
    for (const auto& k : u.gpu_top_kernels)
      o << "<tr><td>" << escape(k.name) << "</td><td>" << k.kind << "</td><td>" << std::setprecision(4) << k.seconds
        << "</td><td>" << k.count << "</td></tr>";
    o << "</table>";
  }
  return o.str();
}

// One line chart, 460 x 220 px, axes with min/max labels.
std::string chart(const std::string& title, const std::string& xlabel, const std::vector<Series>& series) {
  const double W = 460, H = 220, L = 56, R = 10, T = 26, B = 34;
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
  for (const auto& s : series)
    for (size_t i = 0; i < s.x.size(); ++i)
      if (std::isfinite(s.y[i])) {
        x0 = std::min(x0, s.x[i]); x1 = std::max(x1, s.x[i]);
        y0 = std::min(y0, s.y[i]); y1 = std::max(y1, s.y[i]);
      }
  std::ostringstream o;
  o << "<svg width='" << W << "' height='" << H << "' xmlns='http://www.w3.org/2000/svg' font-family='sans-serif' font-size='11'>";
  o << "<text x='" << L << "' y='15' font-size='13' font-weight='bold'>" << escape(title) << "</text>";
  if (x0 > x1) return o.str() + "<text x='60' y='110'>no data</text></svg>";
  if (x1 == x0) { x0 -= 0.5; x1 += 0.5; }  // one point (one epoch): centred, its own x on the axis
  if (y1 == y0) { y1 += 0.5 * std::max(1e-9, std::fabs(y1)); y0 -= 0.5 * std::max(1e-9, std::fabs(y0)); }
  auto px = [&](double v) { return L + (v - x0) / (x1 - x0) * (W - L - R); };
  auto py = [&](double v) { return H - B - (v - y0) / (y1 - y0) * (H - T - B); };
  o << "<rect x='" << L << "' y='" << T << "' width='" << W - L - R << "' height='" << H - T - B
    << "' fill='none' stroke='#999'/>";
  o << "<text x='" << L - 4 << "' y='" << T + 10 << "' text-anchor='end'>" << std::setprecision(4) << y1 << "</text>";
  o << "<text x='" << L - 4 << "' y='" << H - B << "' text-anchor='end'>" << y0 << "</text>";
  o << "<text x='" << L << "' y='" << H - B + 14 << "'>" << x0 << "</text>";
  o << "<text x='" << W - R << "' y='" << H - B + 14 << "' text-anchor='end'>" << x1 << "</text>";
  o << "<text x='" << (L + W - R) / 2 << "' y='" << H - 4 << "' text-anchor='middle'>" << escape(xlabel) << "</text>";
  double legend_x = W - R - 90.0 * static_cast<double>(series.size());  // right-aligned, clear of the title
  for (const auto& s : series) {
    o << "<polyline fill='none' stroke='" << s.colour << "' stroke-width='1.5' points='";
    for (size_t i = 0; i < s.x.size(); ++i)
      if (std::isfinite(s.y[i])) o << px(s.x[i]) << "," << py(s.y[i]) << " ";
    o << "'/>";
    if (s.x.size() == 1 && std::isfinite(s.y[0])) o << "<circle cx='" << px(s.x[0]) << "' cy='" << py(s.y[0]) << "' r='3' fill='" << s.colour << "'/>";
    o << "<text x='" << legend_x << "' y='15' fill='" << s.colour << "'>" << escape(s.name) << "</text>";
    legend_x += 90;
  }
  return o.str() + "</svg>";
}
}  // namespace

std::string make_page(const train::RunResult& r) {
  Series train_loss{"train", "#1f77b4", {}, {}}, val_loss{"validation", "#d62728", {}, {}};
  Series acc{"all elements", "#2ca02c", {}, {}}, acc_p{"particles", "#9467bd", {}, {}};
  for (const auto& e : r.epochs) {
    const double x = e.epoch;
    // An epoch whose validation did not run to its end has no validation point (not a zero).
    const bool validated = e.validation.complete();
    train_loss.x.push_back(x); train_loss.y.push_back(e.train_loss);
    val_loss.x.push_back(x); val_loss.y.push_back(validated ? e.validation.loss : NAN);
    acc.x.push_back(x); acc.y.push_back(validated ? e.validation.accuracy : NAN);
    acc_p.x.push_back(x); acc_p.y.push_back(validated ? e.validation.accuracy_particles : NAN);
  }
  Series rate{"events/s", "#ff7f0e", {}, {}}, wait{"data wait %", "#8c564b", {}, {}};
  for (const auto& s : r.steps) {
    rate.x.push_back(static_cast<double>(s.step));
    rate.y.push_back(s.step_s > 0 ? static_cast<double>(s.events) / s.step_s : NAN);
    wait.x.push_back(static_cast<double>(s.step));
    wait.y.push_back(s.step_s > 0 ? 100.0 * s.data_wait_s / s.step_s : NAN);
  }
  std::ostringstream o;
  o << "<!DOCTYPE html><html><head><meta charset='utf-8'><title>hep-mlbench run</title>"
    << "<style>body{font-family:sans-serif;margin:20px}table{border-collapse:collapse}"
    << "td{padding:2px 10px;border-bottom:1px solid #ddd}</style></head><body>";
  o << "<h2>hep-mlbench run: " << escape(r.status) << "</h2>";
  if (!r.error.empty()) o << "<p style='color:#b00'>" << escape(r.error) << "</p>";
  o << "<table><tr><td>throughput</td><td>" << r.events_per_s << " events/s (" << r.timed_events << " events, "
    << r.timed_steps << " timed steps after " << r.warmup_steps << " warm-up)</td></tr>"
    << "<tr><td>device</td><td>" << escape(r.device_summary) << ", " << r.threads << " CPU threads</td></tr>"
    << "<tr><td>parameters</td><td>" << r.parameters << "</td></tr>"
    << "<tr><td>data checksum</td><td>" << escape(r.data_checksum) << "</td></tr>"
    << "<tr><td>weights checksum</td><td>" << escape(r.final_weights_checksum) << "</td></tr></table>";
  o << utilisation_table(r);
  o << "<p>" << chart("Loss per epoch", "epoch", {train_loss, val_loss})
    << chart("Validation accuracy per epoch", "epoch", {acc, acc_p}) << "</p><p>"
    << chart("Training throughput per step (warm-up included)", "step", {rate})
    << chart("Data wait per step (warm-up included)", "step", {wait})
    << "</p><p>Definitions of every figure: docs/report.md of hep-mlbench.</p></body></html>\n";
  return o.str();
}

}  // namespace hmb::report
