#include "report/summary.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <optional>

#include "report/stats.hpp"
#include "sys/versions.hpp"
#include "util/atomic_file.hpp"
#include "util/build_info.hpp"
#include "util/json_text.hpp"
#include "util/process.hpp"

namespace hmb::report {

namespace {
using nlohmann::json;

json figure(double value, const char* unit) { return {{"value", value}, {"unit", unit}}; }
// A figure that is measured only in some runs: absent with `reason` in the others.
json figure(const std::optional<double>& value, const char* unit, const char* reason) {
  json j = {{"value", value ? json(*value) : json(nullptr)}, {"unit", unit}};
  if (!value) j["reason"] = reason;
  return j;
}
// A figure that may be absent: {"value": null, "unit": ..., "reason": ...}.
json figure(const metrics::Figure& f) {
  json j = {{"value", f.value ? json(*f.value) : json(nullptr)}, {"unit", f.unit}};
  if (!f.value) j["reason"] = f.reason;
  if (!f.source.empty()) j["source"] = f.source;
  return j;
}
// The sampled steps of the hardware counters and every metric read (empty when none was).
json counter_sample(const metrics::UtilisationRecord& u) {
  return {{"first_timed_step", u.gpu_counter_first_step},
          {"steps_per_pass", u.gpu_counter_steps_per_pass},
          {"passes", u.gpu_counter_passes},
          {"metrics", u.gpu_counter_metrics.empty() ? json::object() : json(u.gpu_counter_metrics)},
          {"missing", u.gpu_counter_missing}};
}

json top_kernels(const std::vector<metrics::KernelTime>& kernels) {
  json out = json::array();
  for (const auto& k : kernels)
    out.push_back({{"name", k.name}, {"kind", k.kind}, {"time_s", k.seconds}, {"count", k.count}});
  return out;
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

// How the ranks trained together (docs/report.md, "Data-parallel training").
json data_parallel_block(const train::DistRecord& d) {
  const bool timed = d.comm_time_absent.empty();
  // A communication time, or null with the reason where host clocks cannot time it (NCCL).
  const auto comm_figure = [&](double v, const char* unit) {
    return timed ? figure(v, unit) : json{{"value", nullptr}, {"unit", unit}, {"reason", d.comm_time_absent}};
  };
  const auto or_null = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
  json ranks = json::array();
  for (const auto& r : d.ranks)
    ranks.push_back({{"rank", r.rank},
                     {"events_per_s", r.events_per_s},
                     {"timed_s", r.timed_s},
                     {"step_s_median", r.step_s_median},
                     {"comm_s", timed ? json(r.comm_s) : json(nullptr)},
                     {"exposed_comm_s", timed ? json(r.exposed_comm_s) : json(nullptr)},
                     {"data_wait_fraction", r.data_wait_fraction},
                     {"peak_host_memory_mb", r.peak_rss_mb},
                     {"cpu_busy_cores", or_null(r.cpu_busy_cores)},
                     {"gpu_busy_fraction", or_null(r.gpu.busy_fraction)},
                     {"gpu_energy_j", or_null(r.gpu.energy_j)},
                     {"gpu_mean_power_w", or_null(r.gpu.mean_power_w)},
                     {"gpu_max_power_w", or_null(r.gpu.max_power_w)},
                     {"gpu_sm_clock_mhz", or_null(r.gpu.sm_clock_mhz)},
                     {"gpu_temperature_max_c", or_null(r.gpu.temperature_max_c)},
                     {"gpu_memory_used_peak_mib", or_null(r.gpu.memory_used_peak_mib)}});
  return {{"launcher", d.launcher},
          {"contract", d.contract},
          {"backend", d.backend},
          {"rendezvous", d.rendezvous},
          {"world_size", d.world},
          {"local_world_size", d.local_world},
          {"nodes", d.nodes},
          {"global_batch_size", d.global_batch},
          {"lr_scaling", d.lr_scaling},
          {"lr", d.lr},
          {"allreduce_bytes_per_step", figure(d.comm_bytes_per_step, "bytes")},
          {"allreduce_time_per_step", comm_figure(d.comm_s_per_step, "s")},
          {"exposed_comm_time_per_step", comm_figure(d.exposed_comm_s_per_step, "s")},
          {"exposed_comm_fraction", comm_figure(d.exposed_comm_fraction, "fraction")},
          {"step_time_spread", figure(d.step_time_spread, "fraction")},
          {"scaling_baseline", figure(d.baseline_events_per_s, "events/s", "no --scaling-baseline given")},
          {"scaling_efficiency", figure(d.scaling_efficiency, "fraction", "no --scaling-baseline given")},
          {"weights_agree", d.weights_agree ? json(*d.weights_agree) : json(nullptr)},
          {"per_rank", ranks}};
}

json context_block(const json& system = nullptr) {
  json c = {{"schema_version", kSchemaVersion},
            {"date", utc_now()},
            {"host", host_name()},
            {"build", sys::version_json()}};
  if (!system.is_null()) c["system"] = system;  // the machine: CPU, memory, GPUs, driver
  return c;
}

// A resolved option of the run; null when the run ended before its configuration was resolved.
json config_value(const train::RunResult& run, const char* key) {
  return run.config.is_object() ? run.config.value(key, json(nullptr)) : json(nullptr);
}

// Why an epoch's validation figures are absent; empty when its validation ran to its end. A run
// stopped during an epoch's training (a failure, a stop signal) or its validation has none.
std::string no_validation(const train::EpochRecord& e) {
  if (e.validation.complete()) return "";
  if (e.validation.interrupted) return "the validation of epoch " + std::to_string(e.epoch) + " was interrupted";
  return "epoch " + std::to_string(e.epoch) + " was not validated (the run stopped first)";
}

// An epoch's validation figure: the value, or null when `why` says there is none.
json validated(double value, const std::string& why) { return why.empty() ? json(value) : json(nullptr); }
json validated(double value, const char* unit, const std::string& why) {
  return figure(why.empty() ? std::optional<double>(value) : std::nullopt, unit, why.c_str());
}
}  // namespace

std::string validation_absent(const train::RunResult& run) {
  return run.epochs.empty() ? "no epoch was trained (the run stopped first)" : no_validation(run.epochs.back());
}

json make_summary(const train::RunResult& run, const RunInfo& info) {
  std::vector<double> epoch_s, epoch_rate, step_s;
  for (const auto& e : run.epochs) {
    epoch_s.push_back(e.train_s);
    epoch_rate.push_back(e.events_per_s);
  }
  for (const auto& s : run.steps)
    if (s.timed) step_s.push_back(s.step_s);
  // The run's validation figures are the last epoch's: absent, with the reason, when the run
  // stopped before that epoch's validation ended.
  const train::ValidationRecord last = run.epochs.empty() ? train::ValidationRecord{} : run.epochs.back().validation;
  const std::string unvalidated = validation_absent(run);

  json per_epoch = json::array();
  for (const auto& e : run.epochs) {
    const std::string why = no_validation(e);
    json entry = {{"epoch", e.epoch},
                  {"train_s", e.train_s},
                  {"validation_s", e.validation_s},
                  {"steps", e.steps},
                  {"events", e.events},
                  {"events_per_s", e.events_per_s},
                  {"data_wait_s", e.data_wait_s},
                  {"train_loss", e.train_loss},
                  {"validation_loss", validated(e.validation.loss, why)},
                  {"validation_accuracy", validated(e.validation.accuracy, why)},
                  {"validation_accuracy_particles", validated(e.validation.accuracy_particles, why)}};
    if (!why.empty()) entry["validation_absent"] = why;
    per_epoch.push_back(entry);
  }
  const auto& u = run.utilisation;
  // The figures of the timed window are absent when no step was timed (a run that stopped during
  // warm-up), rather than zeros that read as a measured speed of nothing.
  const bool timed = run.timed_steps > 0;
  const char* untimed = "empty timed window";
  const auto window_figure = [&](double value, const char* unit) {
    return figure(timed ? std::optional<double>(value) : std::nullopt, unit, untimed);
  };
  // Runs that ended before the utilisation figures were made still carry the model's rate (per
  // rank, as the utilisation figures are).
  const json model_flop_per_s =
      u.model_flop_per_s.value || u.model_flop_per_s.reason != metrics::kNotMeasured
          ? figure(u.model_flop_per_s)
          : window_figure(run.events_per_s * run.flop_per_event_train / std::max(1, run.world_size), "FLOP/s");

  json stats_block = {
      {"throughput", window_figure(run.events_per_s, "events/s")},
      {"epoch_time", stats(epoch_s, "s")},
      {"epoch_throughput", stats(epoch_rate, "events/s")},
      {"step_time", stats(step_s, "s")},
      {"validation_accuracy", validated(last.accuracy, "fraction", unvalidated)},
      {"validation_accuracy_particles", validated(last.accuracy_particles, "fraction", unvalidated)},
      {"validation_loss", validated(last.loss, "1", unvalidated)},
      {"validation_loss_classification", validated(last.loss_classification, "1", unvalidated)},
      {"validation_loss_regression", validated(last.loss_regression, "1", unvalidated)},
      {"validation_events", validated(static_cast<double>(last.events), "events", unvalidated)},
      {"confusion", unvalidated.empty()
                        ? json{{"value", last.confusion}, {"unit", "elements [true][predicted]"}}
                        : json{{"value", nullptr}, {"unit", "elements [true][predicted]"}, {"reason", unvalidated}}},
      {"timed_events", figure(static_cast<double>(run.timed_events), "events")},
      {"timed_time", figure(run.timed_s, "s")},
      {"warmup_steps", figure(static_cast<double>(run.warmup_steps), "steps")},
      {"data_wait_fraction", window_figure(run.data_wait_fraction, "fraction")},
      {"padding_fraction", figure(run.padding_fraction, "fraction")},
      {"model_flop_per_event", window_figure(run.flop_per_event_train, "FLOP/event")},
      {"model_flop_per_s", model_flop_per_s},
      {"peak_flop_per_s", figure(u.peak_flop_per_s)},
      {"mfu", figure(u.mfu)},
      {"cpu_utilisation", figure(u.cpu_utilisation)},
      {"cpu_busy_cores", figure(u.cpu_busy_cores)},
      {"parameters", figure(static_cast<double>(run.parameters), "parameters")},
      {"peak_host_memory", figure(run.peak_rss_mb, "MiB")},
      {"peak_device_memory", figure(run.gpu.peak_memory_mb, "MiB", run.device == "cuda" ? "no timed window" : "no GPU")},
      {"gpu_name", u.gpu_name},
      {"gpu_busy_fraction", figure(u.gpu_busy_fraction)},
      {"gpu_compute_time", figure(u.gpu_compute_time)},
      {"gpu_communication_time", figure(u.gpu_communication_time)},
      {"gpu_copy_time", figure(u.gpu_copy_time)},
      {"gpu_kernels", figure(u.gpu_kernels)},
      {"gpu_top_kernels", top_kernels(u.gpu_top_kernels)},
      {"gpu_achieved_flop_per_s", figure(u.gpu_achieved_flop_per_s)},
      {"gpu_achieved_fraction_of_peak", figure(u.gpu_achieved_fraction_of_peak)},
      {"model_to_measured_flop", figure(u.model_to_measured_flop)},
      {"gpu_counted_flop", figure(u.gpu_counted_flop)},
      {"gpu_counted_fp32_flop", figure(u.gpu_counted_fp32_flop)},
      {"gpu_counted_half_flop", figure(u.gpu_counted_half_flop)},
      {"gpu_counted_tensor_flop", figure(u.gpu_counted_tensor_flop)},
      {"gpu_counter_time", figure(u.gpu_counter_time)},
      {"gpu_counter_sample", counter_sample(u)},
      {"gpu_memory_used_peak", figure(u.gpu_memory_used_peak)},
      {"gpu_energy", figure(u.gpu_energy)},
      {"gpu_mean_power", figure(u.gpu_mean_power)},
      {"gpu_max_power", figure(u.gpu_max_power)},
      {"gpu_sm_clock", figure(u.gpu_sm_clock)},
      {"gpu_temperature_max", figure(u.gpu_temperature_max)},
      {"events_per_joule", figure(u.events_per_joule)},
      {"wall_time", figure(run.wall_s, "s")},
      {"data_read_time", figure(run.data_read_s, "s")},
      {"warnings", run.warnings},
      {"device", run.device},
      {"device_summary", run.device_summary},
      {"ranks", run.world_size},
      {"communicator", run.communicator},
      {"data_parallel", data_parallel_block(run.dist)},
      {"skipped_steps", figure(static_cast<double>(run.skipped_steps), "steps")},
      {"threads", run.threads},
      {"seed", config_value(run, "seed")},
      {"preset", config_value(run, "preset")},
      {"batch_size_per_device", config_value(run, "batch-size")},
      {"precision", config_value(run, "precision")},
      {"deterministic", run.deterministic},
      {"denormals", run.denormals},
      {"cpu_kernels", run.cpu_kernels},
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

json make_unfinished_summary(const RunInfo& info) {
  return make_error_summary(std::string(kUnfinished) + ": it started at " + utc_now() +
                                " and ended before writing its report (killed by SIGKILL, e.g. the out-of-memory "
                                "killer or a container stopped after its grace period, or by a second stop signal, "
                                "or it crashed); its hep-mlbench.log (in this folder; a sweep's, in the folder above) says how far it came",
                            info);
}

bool is_unfinished(const json& summary) {
  if (!summary.is_object() || !summary.contains("report") || !summary["report"].is_object()) return false;
  const json& r = summary["report"];
  return r.value("log", "") == "ERROR" && r.contains("error") && r["error"].is_string() &&
         r["error"].get<std::string>().rfind(kUnfinished, 0) == 0;
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
  // Scalar figures, some of which may be absent in some copies (a measurement that failed in
  // one copy): merged over the copies that have a value; the others are counted, with a reason.
  const bool all_figures = std::all_of(values.begin(), values.end(), [](const json& v) {
    return is_figure(v) && (v["value"].is_number() || v["value"].is_null());
  });
  std::vector<double> xs;
  const json* absent = nullptr;
  for (const auto& v : values) {
    if (!is_figure(v)) continue;
    if (v["value"].is_number()) xs.push_back(v["value"].get<double>());
    if (v["value"].is_null() && absent == nullptr) absent = &v;
  }
  if (all_figures && !xs.empty()) {
    json out = stats(xs, first.value("unit", "").c_str());
    double total = 0;
    for (double x : xs) total += x;
    out["value"] = additive(key) ? total : total / static_cast<double>(xs.size());
    if (first.contains("source")) {  // where the figure came from: kept, or each copy's where they differ
      std::string sources;
      bool same = true;
      for (size_t i = 0; i < values.size(); ++i) {
        const auto src = values[i].value("source", std::string("none"));
        same &= src == first.value("source", std::string());
        sources += (i == 0 ? "" : " | ") + src;
      }
      out["source"] = same ? first["source"].get<std::string>() : "differs between the copies: " + sources;
    }
    if (absent != nullptr) {
      out["absent_in_copies"] = values.size() - xs.size();
      out["reason"] = absent->value("reason", std::string("absent"));
    }
    return out;
  }
  if (all_figures) return first;  // absent in every copy: the first copy's reason
  if (std::all_of(values.begin(), values.end(), [](const json& v) { return is_stats(v); })) {
    std::vector<double> avgs;
    for (const auto& v : values) avgs.push_back(v["avg"].get<double>());
    return stats(avgs, first.value("unit", "").c_str());  // over the copies' averages
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
  for (size_t i = 0; i < copies.size(); ++i) {
    const auto& r = copies[i].at("report");
    if (r.value("log", "ERROR") != "ok") {
      ok = false;
      // With several copies, each error says whose it is (its folder is proc_<i>/), once.
      const std::string error = r.value("error", std::string("unknown error"));
      const std::string copy = "copy " + std::to_string(i);
      const bool named = error.rfind(copy + " ", 0) == 0;
      errors += (errors.empty() ? "" : "; ") + (copies.size() > 1 && !named ? copy + ": " : "") + error;
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
  for (const auto& g : good) {
    const auto& v = g.at("throughput").at("value");
    per_copy.push_back(v.is_number() ? v.get<double>() : 0.0);
  }
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
  write_file_atomic(path, json_text(summary, 2) + "\n");
  return path;
}

}  // namespace hmb::report
