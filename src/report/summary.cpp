#include "report/summary.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>

#include "sys/versions.hpp"
#include "util/build_info.hpp"
#include "report/stats.hpp"
#include "util/atomic_file.hpp"

namespace hmb::report {

namespace {
using nlohmann::json;

json figure(double value, const char* unit) { return {{"value", value}, {"unit", unit}}; }
json figure(const std::optional<double>& value, const char* unit) {
  return {{"value", value ? json(*value) : json(nullptr)}, {"unit", unit}};
}
json stats(const std::vector<double>& values, const char* unit) {
  json j = to_json(summarize(values));
  j["unit"] = unit;
  return j;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string host_name() {
  char buf[256] = {};
  return ::gethostname(buf, sizeof buf - 1) == 0 ? buf : "unknown";
}

json app_block(const std::string& data_checksum, const RunInfo& info) {
  return {{"name", "hep-mlbench"},
          {"version", version()},
          {"description", "MLPF (gnn_lsh) training on Delphes PU200 events: throughput and accuracy"},
          {"containment", info.containment},
          {"bmkdata_checksum", data_checksum},
          {"bmk_checksum", git_commit()},
          {"cvmfs_checksum", ""}};
}

json run_info_block(const RunInfo& info) {
  return {{"copies", info.copies},
          {"threads_per_copy", info.threads_per_copy},
          {"events_per_thread", info.events_per_thread},
          {"extra_arguments", info.extra_arguments}};
}

json context_block(const json& system = nullptr) {
  json c = {{"schema_version", kSchemaVersion},
            {"date", utc_now()},
            {"host", host_name()},
            {"build", sys::version_json()}};
  if (!system.is_null()) c["system"] = system;  // the machine: CPU, memory, GPUs, driver
  return c;
}
}  // namespace

json make_summary(const train::RunResult& run, const RunInfo& info) {
  std::vector<double> epoch_s, epoch_rate, step_s;
  for (const auto& e : run.epochs) {
    epoch_s.push_back(e.train_s);
    epoch_rate.push_back(e.events_per_s);
  }
  for (const auto& s : run.steps)
    if (s.timed) step_s.push_back(s.step_s);
  const train::ValidationRecord last = run.epochs.empty() ? train::ValidationRecord{} : run.epochs.back().validation;

  json per_epoch = json::array();
  for (const auto& e : run.epochs) {
    per_epoch.push_back({{"epoch", e.epoch},
                         {"train_s", e.train_s},
                         {"validation_s", e.validation_s},
                         {"steps", e.steps},
                         {"events", e.events},
                         {"events_per_s", e.events_per_s},
                         {"data_wait_s", e.data_wait_s},
                         {"train_loss", e.train_loss},
                         {"validation_loss", e.validation.loss},
                         {"validation_accuracy", e.validation.accuracy},
                         {"validation_accuracy_particles", e.validation.accuracy_particles}});
  }
  const double mfu_flop_per_s = run.events_per_s * run.flop_per_event_train;

  json stats_block = {
      {"throughput", figure(run.events_per_s, "events/s")},
      {"epoch_time", stats(epoch_s, "s")},
      {"epoch_throughput", stats(epoch_rate, "events/s")},
      {"step_time", stats(step_s, "s")},
      {"validation_accuracy", figure(last.accuracy, "fraction")},
      {"validation_accuracy_particles", figure(last.accuracy_particles, "fraction")},
      {"validation_loss", figure(last.loss, "1")},
      {"validation_loss_classification", figure(last.loss_classification, "1")},
      {"validation_loss_regression", figure(last.loss_regression, "1")},
      {"validation_events", figure(static_cast<double>(last.events), "events")},
      {"confusion", {{"value", last.confusion}, {"unit", "elements [true][predicted]"}}},
      {"timed_events", figure(static_cast<double>(run.timed_events), "events")},
      {"timed_time", figure(run.timed_s, "s")},
      {"warmup_steps", figure(static_cast<double>(run.warmup_steps), "steps")},
      {"data_wait_fraction", figure(run.data_wait_fraction, "fraction")},
      {"padding_fraction", figure(run.padding_fraction, "fraction")},
      {"model_flop_per_event", figure(run.flop_per_event_train, "FLOP/event")},
      {"model_flop_per_s", figure(mfu_flop_per_s, "FLOP/s")},
      {"parameters", figure(static_cast<double>(run.parameters), "parameters")},
      {"peak_host_memory", figure(run.peak_rss_mb, "MiB")},
      {"peak_device_memory", figure(run.gpu.peak_memory_mb, "MiB")},
      {"gpu_busy_fraction", figure(run.gpu.busy_fraction, "fraction")},
      {"gpu_achieved_flop_per_s", figure(run.gpu.achieved_flop_per_s, "FLOP/s")},
      {"gpu_energy", figure(run.gpu.energy_j, "J")},
      {"gpu_mean_power", figure(run.gpu.mean_power_w, "W")},
      {"wall_time", figure(run.wall_s, "s")},
      {"data_read_time", figure(run.data_read_s, "s")},
      {"warnings", run.warnings},
      {"device", run.device},
      {"device_summary", run.device_summary},
      {"ranks", run.world_size},
      {"communicator", run.communicator},
      {"skipped_steps", figure(static_cast<double>(run.skipped_steps), "steps")},
      {"threads", run.threads},
      {"seed", run.config.value("seed", json(nullptr))},
      {"preset", run.config.value("preset", json(nullptr))},
      {"batch_size_per_device", run.config.value("batch-size", json(nullptr))},
      {"precision", run.config.value("precision", json(nullptr))},
      {"deterministic", run.deterministic},
      {"data_checksum", run.data_checksum},
      {"initial_weights_checksum", run.initial_weights_checksum},
      {"final_weights_checksum", run.final_weights_checksum},
      {"epochs", per_epoch},
      {"reference_step", run.reference_step},
      {"config", run.config},
  };

  json report = {{"wl-scores", {{kScoreKey, run.events_per_s}}},
                 {"wl-stats", stats_block},
                 {"log", run.status == "ok" ? "ok" : "ERROR"}};
  if (run.status != "ok") {
    report["wl-scores"] = json::object();
    report["error"] = run.status + ": " + run.error;
  }
  return {{"app", app_block(run.data_checksum, info)},
          {"run_info", run_info_block(info)},
          {"report", report},
          {"context", context_block(run.system)}};
}

json make_error_summary(const std::string& reason, const RunInfo& info, const train::RunResult* partial) {
  if (partial != nullptr) {
    train::RunResult r = *partial;
    if (r.status == "ok") r.status = "failed";
    r.error = reason;
    return make_summary(r, info);
  }
  return {{"app", app_block("", info)},
          {"run_info", run_info_block(info)},
          {"report", {{"wl-scores", json::object()}, {"wl-stats", json::object()}, {"log", "ERROR"}, {"error", reason}}},
          {"context", context_block()}};
}

namespace {
// Figures whose total over the copies is the machine's figure; every other number is averaged.
bool additive(const std::string& key) {
  return key == "throughput" || key == "timed_events" || key == "gpu_energy";
}

bool is_figure(const json& v) { return v.is_object() && v.contains("value") && v.contains("unit"); }
bool is_stats(const json& v) { return v.is_object() && v.contains("avg") && v.contains("count"); }

// One wl-stats entry of the merged report from the copies' entries `values` (same key).
json merge_entry(const std::string& key, const std::vector<json>& values) {
  const json& first = values.front();
  const bool all_figures = std::all_of(values.begin(), values.end(), [](const json& v) {
    return is_figure(v) && v["value"].is_number();
  });
  if (all_figures) {
    std::vector<double> xs;
    for (const auto& v : values) xs.push_back(v["value"].get<double>());
    json out = stats(xs, first.value("unit", "").c_str());
    double total = 0;
    for (double x : xs) total += x;
    out["value"] = additive(key) ? total : total / static_cast<double>(xs.size());
    return out;
  }
  if (std::all_of(values.begin(), values.end(), [](const json& v) { return is_stats(v); })) {
    std::vector<double> xs;
    for (const auto& v : values) xs.push_back(v["avg"].get<double>());
    return stats(xs, first.value("unit", "").c_str());  // over the copies' averages
  }
  const bool all_count_arrays = std::all_of(values.begin(), values.end(), [&](const json& v) {
    return is_figure(v) && v["value"].is_array() && v["value"].size() == first["value"].size();
  });
  if (all_count_arrays) {  // counts (the confusion matrix): summed element by element
    json out = first;
    for (size_t i = 0; i < first["value"].size(); ++i) {
      double sum = 0;
      for (const auto& v : values) sum += v["value"][i].is_number() ? v["value"][i].get<double>() : 0.0;
      out["value"][i] = sum;
    }
    return out;
  }
  if (key == "warnings") {
    json out = json::array();
    for (const auto& v : values)
      for (const auto& w : v)
        if (std::find(out.begin(), out.end(), w) == out.end()) out.push_back(w);
    return out;
  }
  if (std::all_of(values.begin(), values.end(), [&](const json& v) { return v == first; })) return first;
  return json(values);  // differs between copies: each copy's, in copy order
}
}  // namespace

json combine_copies(const std::vector<json>& copies, const RunInfo& info) {
  bool ok = !copies.empty();
  double total = 0;
  std::vector<json> good;
  std::string errors;
  for (const auto& c : copies) {
    const auto& r = c.at("report");
    if (r.value("log", "ERROR") != "ok") {
      ok = false;
      errors += (errors.empty() ? "" : "; ") + r.value("error", std::string("unknown error"));
      continue;
    }
    total += r.at("wl-scores").at(kScoreKey).get<double>();
    good.push_back(r.at("wl-stats"));
  }
  if (copies.empty()) errors = "no copy produced a summary";
  json out = copies.empty() ? make_error_summary(errors, info) : copies.front();
  out["run_info"] = run_info_block(info);
  out["app"]["containment"] = info.containment;
  // The merged statistics: each per-copy number becomes its distribution over the copies that
  // succeeded (avg, median, min, max, count), with `value` their total (throughput) or mean.
  json merged = json::object();
  if (!good.empty()) {
    for (const auto& [key, value] : good.front().items()) {
      if (key == "epochs") continue;  // per epoch: in each copy's own report
      std::vector<json> values;
      for (const auto& g : good)
        if (g.contains(key)) values.push_back(g.at(key));
      if (values.size() == good.size()) merged[key] = merge_entry(key, values);
    }
  }
  std::vector<double> per_copy;
  for (const auto& g : good) per_copy.push_back(g.at("throughput").value("value", 0.0));
  merged["copy_throughput"] = stats(per_copy, "events/s");
  merged["copies_ok"] = static_cast<int>(good.size());
  out["report"]["wl-stats"] = merged;
  out["report"]["copies"] = copies;
  if (ok) {
    out["report"]["wl-scores"] = {{kScoreKey, total}};
    out["report"]["log"] = "ok";
    out["report"].erase("error");
  } else {
    out["report"]["wl-scores"] = json::object();
    out["report"]["log"] = "ERROR";
    out["report"]["error"] = errors;
  }
  return out;
}

std::string write_summary(const json& summary, const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / kSummaryFile).string();
  write_file_atomic(path, summary.dump(2) + "\n");
  return path;
}

}  // namespace hmb::report
