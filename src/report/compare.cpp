#include "report/compare.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>
#include <utility>

#include "report/summary.hpp"
#include "report/tolerances_json.hpp"
#include "util/error.hpp"
#include "util/json_text.hpp"

namespace hmb::report {

namespace {
using nlohmann::json;

std::string text(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  return json_text(v);
}

// `key` of a report's `context`, null where the report has none (or it is not an object).
json context_value(const json& s, const char* key) {
  if (!s.is_object() || !s.contains("context") || !s["context"].is_object()) return nullptr;
  return s["context"].value(key, json(nullptr));
}

const json& stats_of(const json& s, const char* which) {
  // A report of another schema version has other fields or other meanings; one without a
  // version (written by hand, or cut) is read as far as it goes.
  const json version = context_value(s, "schema_version");
  if (!version.is_null() && version != json(kSchemaVersion))
    throw Error(std::string("compare: report ") + which + " has schema version " + text(version) +
                ", this hep-mlbench reads version " + std::to_string(kSchemaVersion) +
                ": compare it with the hep-mlbench that wrote it");
  require(s.is_object() && s.contains("report") && s["report"].is_object() && s["report"].contains("wl-stats") &&
              s["report"]["wl-stats"].is_object(),
          std::string("compare: report ") + which + " has no report.wl-stats (is it a hep-mlbench summary?)");
  require(s["report"].contains("log") && s["report"]["log"] == "ok",
          std::string("compare: report ") + which + " is of a failed run (report.log is not \"ok\")");
  return s["report"]["wl-stats"];
}

// `key` of an entry that the workload's merged report keeps as an object when its copies agree
// and as the list of the copies' objects otherwise (`config`, `reference_step`;
// docs/report.md): the value all copies share, the list of the copies' values where they
// differ (which then equals no single run's value), null where there is none.
json per_key(const json& entry, const char* key) {
  if (entry.is_object()) return entry.value(key, json(nullptr));
  if (!entry.is_array() || entry.empty()) return nullptr;
  json values = json::array();
  for (const auto& e : entry) values.push_back(e.is_object() ? e.value(key, json(nullptr)) : json(nullptr));
  for (const auto& v : values)
    if (v != values.front()) return values;
  return values.front();
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

std::string short_num(double v) {
  std::ostringstream os;
  os << std::setprecision(2) << v;
  return os.str();
}

MetricTolerance metric_of(const json& table, const char* key) {
  require(table.contains("metrics") && table["metrics"].contains(key),
          std::string("tolerance table: no entry for ") + key);
  const json& m = table["metrics"][key];
  MetricTolerance t;
  require(m.contains("tolerance") && m["tolerance"].is_number() && m["tolerance"].get<double>() >= 0,
          std::string("tolerance table: ") + key + ".tolerance must be a number >= 0");
  t.limit = m["tolerance"].get<double>();
  const std::string kind = m.value("kind", "");
  require(kind == "absolute" || kind == "relative",
          std::string("tolerance table: ") + key + ".kind must be absolute or relative");
  t.relative = kind == "relative";
  auto number = [&m](const char* k) {
    return m.contains(k) && m[k].is_number() ? m[k].get<double>() : std::nan("");
  };
  const int runs = m.contains("runs") && m["runs"].is_number_integer() ? m["runs"].get<int>() : 0;
  std::ostringstream os;
  if (runs > 0)
    os << "measured: largest difference " << short_num(number("spread_max")) << ", sd " << short_num(number("spread_sd"))
       << " over " << runs << " runs";
  else
    os << "not measured";
  t.spread = os.str();
  return t;
}

// Reference steps: the largest relative difference over the steps, or NaN when a report lacks
// them (an older version) or they were taken differently.
double reference_difference(const json& a, const json& b, const char* key, std::string& va, std::string& vb) {
  auto values = [key](const json& s) {
    std::vector<double> xs;
    if (s.is_object() && s.contains(key) && s[key].is_array())
      for (const auto& v : s[key]) xs.push_back(v.is_number() ? v.get<double>() : std::nan(""));
    return xs;
  };
  const auto xa = values(a), xb = values(b);
  va = xa.empty() ? "-" : num(xa.front()) + (xa.size() > 1 ? " .." : "");
  vb = xb.empty() ? "-" : num(xb.front()) + (xb.size() > 1 ? " .." : "");
  if (xa.empty() || xa.size() != xb.size()) return std::nan("");
  double worst = 0;
  for (size_t i = 0; i < xa.size(); ++i) {
    const double scale = std::max(std::fabs(xa[i]), std::fabs(xb[i]));
    const double d = scale > 0 ? std::fabs(xa[i] - xb[i]) / scale : 0.0;
    if (!std::isfinite(d)) return std::nan("");
    worst = std::max(worst, d);
  }
  return worst;
}
}  // namespace

const json& measured_table() {
  static const json table = json::parse(kTolerancesJson);
  return table;
}

Tolerances Tolerances::from_table(const json& table) {
  Tolerances t;
  require(table.contains("version") && table["version"].is_string(), "tolerance table: no version");
  t.table = table["version"].get<std::string>();
  t.accuracy = metric_of(table, "validation_accuracy");
  t.accuracy_particles = metric_of(table, "validation_accuracy_particles");
  t.loss = metric_of(table, "validation_loss");
  t.reference_loss = metric_of(table, "reference_loss");
  t.reference_grad_norm = metric_of(table, "reference_grad_norm");
  return t;
}

Tolerances Tolerances::measured() { return from_table(measured_table()); }

void Tolerances::override_with(const std::string& spec) {
  const std::pair<const char*, MetricTolerance*> figures[] = {
      {"validation_accuracy", &accuracy},   {"validation_accuracy_particles", &accuracy_particles},
      {"validation_loss", &loss},           {"reference_loss", &reference_loss},
      {"reference_grad_norm", &reference_grad_norm}};
  std::string names;
  for (const auto& [name, _] : figures) names += (names.empty() ? "" : ", ") + std::string(name);
  const std::string option = "compare: option --tolerance '" + spec + "'";
  require(!spec.empty(), option + ": give NAME=VALUE, NAME one of " + names);
  std::stringstream items(spec);
  for (std::string item; std::getline(items, item, ',');) {
    const auto eq = item.find('=');
    require(eq != std::string::npos, option + ": '" + item + "' is not NAME=VALUE (e.g. validation_accuracy=0.02)");
    const std::string name = item.substr(0, eq), value = item.substr(eq + 1);
    MetricTolerance* target = nullptr;
    for (const auto& [n, t] : figures)
      if (name == n) target = t;
    require(target != nullptr, option + ": no figure '" + name + "'; the figures are " + names);
    double v = std::nan("");
    try {
      size_t used = 0;
      v = std::stod(value, &used);
      // a decimal number only: stod also reads hexadecimal ("0x10" is 16)
      if (used != value.size() || value.find_first_of("xX") != std::string::npos) v = std::nan("");
    } catch (const std::exception&) {
    }
    require(std::isfinite(v) && v >= 0,
            option + ": the tolerance of " + name + " must be a number >= 0, not '" + value + "'");
    target->limit = v;
    target->spread = "set on the command line";
  }
}

CompareResult compare_summaries(const json& a, const json& b, const Tolerances& tol) {
  const json& sa = stats_of(a, "A");
  const json& sb = stats_of(b, "B");
  // A report of a run that succeeded has a number for each validation figure: one without cannot
  // be compared (an edited or truncated report), which is not the same as two that differ.
  for (const auto& [s, which] : {std::pair<const json*, const char*>{&sa, "A"}, {&sb, "B"}})
    for (const char* key : {"validation_accuracy", "validation_accuracy_particles", "validation_loss"})
      require(std::isfinite(value_of(*s, key)), std::string("compare: report ") + which +
                                                    " has no number for report.wl-stats." + key +
                                                    ".value (an edited or damaged summary?): it cannot be compared");
  CompareResult r;
  r.table = tol.table;

  // Same workload: everything that decides the numbers, except the hardware. Values are compared
  // as JSON (the seed 42 is not the text "42"), shown as text.
  auto equal_row = [&r](std::string what, const json& va, const json& vb) {
    CompareRow row{std::move(what), text(va), text(vb), "equal", va == vb, ""};
    r.same_workload &= row.ok;
    r.rows.push_back(row);
  };
  const json ca = sa.value("config", json::object()), cb = sb.value("config", json::object());
  for (const char* key : {"preset", "seed", "batch-size", "epochs", "steps", "lr", "weight-decay",
                          "max-train-events", "max-val-events", "bucket-by-size"})
    equal_row(std::string("config ") + key, per_key(ca, key), per_key(cb, key));
  for (const char* key : {"data_checksum", "initial_weights_checksum", "ranks"})
    equal_row(key, sa.value(key, json(nullptr)), sb.value(key, json(nullptr)));

  auto limit_text = [](const MetricTolerance& t, double diff) {
    return (t.relative ? "rel " : "abs ") + num(t.limit) + " (diff " + num(diff) + ")";
  };
  auto within = [&](const char* key, const MetricTolerance& t) {
    const double va = value_of(sa, key), vb = value_of(sb, key);
    const double diff = std::fabs(va - vb);
    const double bound = t.relative ? t.limit * std::max(std::fabs(va), std::fabs(vb)) : t.limit;
    CompareRow row{key, num(va), num(vb), limit_text(t, diff), true, t.spread};
    row.ok = std::isfinite(va) && std::isfinite(vb) && diff <= bound;
    r.metrics_agree &= row.ok;
    r.rows.push_back(row);
  };
  within("validation_accuracy", tol.accuracy);
  within("validation_accuracy_particles", tol.accuracy_particles);
  within("validation_loss", tol.loss);

  // The reference step (train/reference_step.hpp): taken the same way, then within tolerance.
  const json ra = sa.value("reference_step", json(nullptr)), rb = sb.value("reference_step", json(nullptr));
  for (const char* key : {"steps", "step_size", "events"}) {
    CompareRow row{std::string("reference_step ") + key, text(per_key(ra, key)), text(per_key(rb, key)), "equal", true, ""};
    row.ok = row.a == row.b && row.a != "-";
    r.metrics_agree &= row.ok;
    r.rows.push_back(row);
  }
  auto reference = [&](const char* key, const char* name, const MetricTolerance& t) {
    std::string va, vb;
    const double diff = reference_difference(json{{key, per_key(ra, key)}}, json{{key, per_key(rb, key)}}, key, va, vb);
    CompareRow row{name, va, vb, limit_text(t, diff), true, t.spread};
    row.ok = std::isfinite(diff) && diff <= t.limit;
    r.metrics_agree &= row.ok;
    r.rows.push_back(row);
  };
  reference("losses", "reference_loss", tol.reference_loss);
  reference("grad_norms", "reference_grad_norm", tol.reference_grad_norm);

  // Where each ran: not compared (that is the point of the tolerances), shown so that a reader
  // sees why two runs differ in their last digits.
  // (a report without it, whatever lies in its place, gives null: "-")
  auto cpu_model = [](const json& s) {
    const json system = context_value(s, "system");
    return system.is_object() ? system.value("cpu_model", json(nullptr)) : json(nullptr);
  };
  r.rows.push_back({"ran on: cpu_model", text(cpu_model(a)), text(cpu_model(b)), "not compared", true, "", false});
  for (const char* key : {"device", "threads", "cpu_kernels", "denormals"})
    r.rows.push_back({std::string("ran on: ") + key, text(sa.value(key, json(nullptr))),
                      text(sb.value(key, json(nullptr))), "not compared", true, "", false});
  return r;
}

std::string format_comparison(const CompareResult& r) {
  std::ostringstream os;
  os << "# tolerance table: " << r.table << "\n";
  os << "# " << std::left << std::setw(34) << "what" << std::setw(22) << "A" << std::setw(22) << "B"
     << std::setw(34) << "limit" << std::setw(9) << "verdict" << "tolerance from\n";
  for (const auto& row : r.rows) {
    auto cut = [](std::string s) {
      if (s.size() > 20) {
        s.resize(17);
        s.append(3, '.');
      }
      return s;
    };
    os << "  " << std::left << std::setw(34) << row.what << std::setw(22) << cut(row.a) << std::setw(22)
       << cut(row.b) << std::setw(34) << row.limit << std::setw(9) << (!row.checked ? "-" : row.ok ? "ok" : "DIFFERS") << row.spread
       << "\n";
  }
  os << "# same workload: " << (r.same_workload ? "yes" : "NO")
     << "; metrics agree: " << (r.metrics_agree ? "yes" : "NO") << " (tolerance table " << r.table << ")\n";
  return os.str();
}

json comparison_json(const CompareResult& r) {
  json rows = json::array();
  for (const auto& row : r.rows)
    rows.push_back({{"what", row.what}, {"a", row.a}, {"b", row.b}, {"limit", row.limit}, {"ok", row.ok},
                    {"checked", row.checked}, {"tolerance_from", row.spread}});
  return {{"tolerance_table", r.table}, {"same_workload", r.same_workload}, {"metrics_agree", r.metrics_agree},
          {"ok", r.ok()}, {"rows", rows}};
}

}  // namespace hmb::report
