#include "report/compare.hpp"

#include <cmath>
#include <iomanip>
#include <sstream>

#include "util/error.hpp"

namespace hmb::report {

namespace {
using nlohmann::json;

const json& stats_of(const json& s, const char* which) {
  require(s.contains("report") && s["report"].contains("wl-stats"),
          std::string("compare: report ") + which + " has no report.wl-stats (is it a hep-mlbench summary?)");
  require(s["report"].value("log", "") == "ok",
          std::string("compare: report ") + which + " is of a failed run (report.log is not \"ok\")");
  return s["report"]["wl-stats"];
}

std::string text(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

double value_of(const json& stats, const char* key) {
  if (!stats.contains(key)) return std::nan("");
  const json& f = stats[key];
  const json& v = f.is_object() ? f.value("value", json(nullptr)) : f;
  return v.is_number() ? v.get<double>() : std::nan("");
}

std::string num(double v) {
  std::ostringstream os;
  os << std::setprecision(6) << v;
  return os.str();
}
}  // namespace

CompareResult compare_summaries(const json& a, const json& b, const Tolerances& tol) {
  const json& sa = stats_of(a, "A");
  const json& sb = stats_of(b, "B");
  CompareResult r;

  // Same workload: everything that decides the numbers, except the hardware.
  const json ca = sa.value("config", json::object()), cb = sb.value("config", json::object());
  for (const char* key : {"preset", "seed", "batch-size", "epochs", "steps", "lr", "weight-decay",
                          "max-train-events", "max-val-events", "bucket-by-size"}) {
    CompareRow row{std::string("config ") + key, text(ca.value(key, json(nullptr))),
                   text(cb.value(key, json(nullptr))), "equal", true};
    row.ok = row.a == row.b;
    r.same_workload &= row.ok;
    r.rows.push_back(row);
  }
  for (const char* key : {"data_checksum", "initial_weights_checksum", "ranks"}) {
    CompareRow row{key, text(sa.value(key, json(nullptr))), text(sb.value(key, json(nullptr))), "equal", true};
    row.ok = row.a == row.b;
    r.same_workload &= row.ok;
    r.rows.push_back(row);
  }

  auto within = [&](const char* key, double limit, bool relative) {
    const double va = value_of(sa, key), vb = value_of(sb, key);
    const double diff = std::fabs(va - vb);
    const double bound = relative ? limit * std::max(std::fabs(va), std::fabs(vb)) : limit;
    CompareRow row{key, num(va), num(vb),
                   (relative ? "rel " : "abs ") + num(limit) + " (diff " + num(diff) + ")", true};
    row.ok = std::isfinite(va) && std::isfinite(vb) && diff <= bound;
    r.metrics_agree &= row.ok;
    r.rows.push_back(row);
  };
  within("validation_accuracy", tol.accuracy, false);
  within("validation_accuracy_particles", tol.accuracy_particles, false);
  within("validation_loss", tol.loss_relative, true);
  return r;
}

std::string format_comparison(const CompareResult& r) {
  std::ostringstream os;
  os << "# " << std::left << std::setw(34) << "what" << std::setw(22) << "A" << std::setw(22) << "B"
     << std::setw(30) << "limit" << "verdict\n";
  for (const auto& row : r.rows) {
    auto cut = [](std::string s) {
      if (s.size() > 20) {
        s.resize(17);
        s.append(3, '.');
      }
      return s;
    };
    os << "  " << std::left << std::setw(34) << row.what << std::setw(22) << cut(row.a) << std::setw(22)
       << cut(row.b) << std::setw(30) << row.limit << (row.ok ? "ok" : "DIFFERS") << "\n";
  }
  os << "# same workload: " << (r.same_workload ? "yes" : "NO")
     << "; metrics agree: " << (r.metrics_agree ? "yes" : "NO") << "\n";
  return os.str();
}

}  // namespace hmb::report
