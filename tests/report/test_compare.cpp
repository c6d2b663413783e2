#include <catch2/catch.hpp>

#include <map>

#include "report/compare.hpp"
#include "report/summary.hpp"
#include "util/error.hpp"

namespace {
using nlohmann::json;

json summary(double acc, std::uint64_t seed, const std::string& data, double ref_loss = 150.0) {
  return {{"report",
           {{"log", "ok"},
            {"wl-stats",
             {{"config", {{"preset", "tiny"}, {"seed", seed}, {"batch-size", 4}}},
              {"data_checksum", data},
              {"initial_weights_checksum", "w0"},
              {"ranks", 1},
              {"validation_accuracy", {{"value", acc}, {"unit", "fraction"}}},
              {"validation_accuracy_particles", {{"value", acc - 0.1}, {"unit", "fraction"}}},
              {"validation_loss", {{"value", 2.0}, {"unit", "1"}}},
              {"reference_step",
               {{"losses", {ref_loss, ref_loss * 0.9}},
                {"grad_norms", {80.0}},
                {"steps", 1},
                {"step_size", 1e-3},
                {"events", 4}}}}}}}};
}

hmb::report::Tolerances tolerances() { return hmb::report::Tolerances::measured(); }
}  // namespace

TEST_CASE("compare: the built-in tolerance table is complete and versioned", "[compare]") {
  const auto& table = hmb::report::measured_table();
  const auto tol = tolerances();
  CHECK_FALSE(tol.table.empty());
  CHECK(tol.table == table["version"].get<std::string>());
  CHECK(tol.accuracy.limit == table["metrics"]["validation_accuracy"]["tolerance"].get<double>());
  CHECK(tol.reference_loss.relative);
  CHECK_FALSE(tol.accuracy.relative);
  CHECK(tol.reference_loss.limit > 0);
  CHECK(tol.reference_loss.limit < 1e-2);  // a check on rounding, not on training
  CHECK_THROWS_WITH(hmb::report::Tolerances::from_table(json{{"version", "x"}, {"metrics", json::object()}}),
                    Catch::Contains("no entry for validation_accuracy"));
}

TEST_CASE("compare: identical and near-identical runs agree", "[compare]") {
  const auto tol = tolerances();
  CHECK(hmb::report::compare_summaries(summary(0.9576, 42, "d"), summary(0.9576, 42, "d"), tol).ok());
  const double half = tol.accuracy.limit / 2;
  CHECK(hmb::report::compare_summaries(summary(0.9576, 42, "d"), summary(0.9576 + half, 42, "d"), tol).ok());
  const double ref = 150.0 * (1 + tol.reference_loss.limit / 2);
  CHECK(hmb::report::compare_summaries(summary(0.9576, 42, "d"), summary(0.9576, 42, "d", ref), tol).ok());
}

TEST_CASE("compare: another seed or data is another workload, a large gap fails", "[compare]") {
  const auto tol = tolerances();
  auto seed = hmb::report::compare_summaries(summary(0.95, 42, "d"), summary(0.95, 43, "d"), tol);
  CHECK_FALSE(seed.same_workload);
  CHECK_FALSE(seed.ok());
  auto data = hmb::report::compare_summaries(summary(0.95, 42, "d"), summary(0.95, 42, "e"), tol);
  CHECK_FALSE(data.same_workload);
  auto gap = hmb::report::compare_summaries(summary(0.95, 42, "d"),
                                            summary(0.95 - 2 * tol.accuracy.limit, 42, "d"), tol);
  CHECK(gap.same_workload);
  CHECK_FALSE(gap.metrics_agree);
  CHECK_THAT(hmb::report::format_comparison(gap), Catch::Contains("DIFFERS"));
}

TEST_CASE("compare: the reference step catches what the validation metrics cannot", "[compare]") {
  const auto tol = tolerances();
  const double ref = 150.0 * (1 + 3 * tol.reference_loss.limit);
  auto r = hmb::report::compare_summaries(summary(0.95, 42, "d"), summary(0.95, 42, "d", ref), tol);
  CHECK(r.same_workload);
  CHECK_FALSE(r.metrics_agree);
  const auto text = hmb::report::format_comparison(r);
  CHECK_THAT(text, Catch::Contains("reference_loss") && Catch::Contains("DIFFERS"));
  CHECK_THAT(text, Catch::Contains("tolerance table: " + tol.table));
  // A report without a reference step (an older version) cannot pass.
  auto old = summary(0.95, 42, "d");
  old["report"]["wl-stats"].erase("reference_step");
  CHECK_FALSE(hmb::report::compare_summaries(summary(0.95, 42, "d"), old, tol).ok());
  // Taken differently (another number of steps): not comparable.
  auto other = summary(0.95, 42, "d");
  other["report"]["wl-stats"]["reference_step"]["steps"] = 2;
  CHECK_FALSE(hmb::report::compare_summaries(summary(0.95, 42, "d"), other, tol).ok());
}

TEST_CASE("compare: every metric row says what its tolerance came from, and the JSON names the table", "[compare]") {
  const auto tol = tolerances();
  auto r = hmb::report::compare_summaries(summary(0.95, 42, "d"), summary(0.95, 42, "d"), tol);
  int metric_rows = 0;
  for (const auto& row : r.rows) {
    if (row.limit == "equal" || !row.checked) continue;
    ++metric_rows;
    CHECK_FALSE(row.spread.empty());
  }
  CHECK(metric_rows == 5);
  const auto j = hmb::report::comparison_json(r);
  CHECK(j["tolerance_table"] == tol.table);
  CHECK(j["ok"] == true);
}

TEST_CASE("compare: where each run ran is shown for both, never judged", "[compare]") {
  auto a = summary(0.95, 42, "d"), b = summary(0.95, 42, "d");
  a["context"]["system"]["cpu_model"] = "CPU one";
  b["context"]["system"]["cpu_model"] = "CPU two";
  a["report"]["wl-stats"]["cpu_kernels"] = "AVX512";
  b["report"]["wl-stats"]["cpu_kernels"] = "AVX2";
  a["report"]["wl-stats"]["threads"] = 1;
  b["report"]["wl-stats"]["threads"] = 2;
  auto r = hmb::report::compare_summaries(a, b, tolerances());
  CHECK(r.ok());
  std::map<std::string, std::pair<std::string, std::string>> shown;
  for (const auto& row : r.rows)
    if (!row.checked) {
      CHECK(row.ok);
      shown[row.what] = {row.a, row.b};
    }
  CHECK(shown["ran on: cpu_model"] == std::make_pair(std::string("CPU one"), std::string("CPU two")));
  CHECK(shown["ran on: cpu_kernels"] == std::make_pair(std::string("AVX512"), std::string("AVX2")));
  CHECK(shown["ran on: threads"] == std::make_pair(std::string("1"), std::string("2")));
  CHECK(shown["ran on: denormals"] == std::make_pair(std::string("-"), std::string("-")));  // absent: "-"
  const auto text = hmb::report::format_comparison(r);
  CHECK_THAT(text, Catch::Contains("ran on: cpu_kernels") && Catch::Contains("AVX512"));
  CHECK_THAT(text, !Catch::Contains("DIFFERS"));
  const auto j = hmb::report::comparison_json(r);
  bool json_has_unchecked = false;
  for (const auto& row : j["rows"]) json_has_unchecked |= row["what"] == "ran on: cpu_kernels" && row["checked"] == false;
  CHECK(json_has_unchecked);
  // A report without the machine, or with something else in its place, shows "-".
  b["context"] = "not an object";
  a.erase("context");
  for (const auto& row : hmb::report::compare_summaries(a, b, tolerances()).rows)
    if (row.what == "ran on: cpu_model") CHECK((row.a == "-" && row.b == "-"));
}

TEST_CASE("compare: a failed run's report is refused", "[compare]") {
  auto bad = summary(0.9, 1, "d");
  bad["report"]["log"] = "ERROR";
  CHECK_THROWS_WITH(hmb::report::compare_summaries(bad, summary(0.9, 1, "d"), tolerances()),
                    Catch::Contains("failed run"));
}

TEST_CASE("compare: a tolerance table with a bad entry or no version is refused, naming what to mend", "[compare]") {
  using hmb::report::Tolerances;
  auto with = [](const char* key, const json& entry) {
    json t = hmb::report::measured_table();
    t["metrics"][key] = entry;
    return t;
  };
  CHECK_NOTHROW(Tolerances::from_table(hmb::report::measured_table()));
  CHECK_THROWS_WITH(Tolerances::from_table(with("validation_accuracy", {{"tolerance", -1}, {"kind", "absolute"}})),
                    Catch::Contains("validation_accuracy.tolerance") && Catch::Contains(">= 0"));
  CHECK_THROWS_WITH(Tolerances::from_table(with("validation_loss", {{"tolerance", "small"}, {"kind", "relative"}})),
                    Catch::Contains("validation_loss.tolerance") && Catch::Contains("a number"));
  CHECK_THROWS_WITH(Tolerances::from_table(with("reference_loss", {{"tolerance", 0.1}, {"kind", "percent"}})),
                    Catch::Contains("reference_loss.kind") && Catch::Contains("absolute or relative"));
  json unversioned = hmb::report::measured_table();
  unversioned.erase("version");
  CHECK_THROWS_WITH(Tolerances::from_table(unversioned), Catch::Contains("no version"));
}

TEST_CASE("compare: a file that is not a hep-mlbench summary is refused, naming which", "[compare]") {
  const auto good = summary(0.9, 1, "d");
  CHECK_THROWS_WITH(hmb::report::compare_summaries(json{{"foo", 1}}, good, tolerances()),
                    Catch::Contains("report A") && Catch::Contains("no report.wl-stats"));
  CHECK_THROWS_WITH(hmb::report::compare_summaries(good, json{{"report", {{"log", "ok"}}}}, tolerances()),
                    Catch::Contains("report B") && Catch::Contains("no report.wl-stats"));
}

TEST_CASE("compare: --tolerance NAME=VALUE replaces one figure's tolerance and refuses what it cannot read", "[compare]") {
  auto tol = tolerances();
  const double loss_before = tol.loss.limit;
  const bool loss_relative = tol.loss.relative;
  tol.override_with("validation_accuracy=0.5,reference_grad_norm=0");
  CHECK(tol.accuracy.limit == 0.5);
  CHECK(tol.accuracy.spread == "set on the command line");
  CHECK(tol.reference_grad_norm.limit == 0.0);
  CHECK(tol.loss.limit == loss_before);  // the others stay the table's
  tol.override_with("validation_loss=2e-1");
  CHECK(tol.loss.limit == 0.2);
  CHECK(tol.loss.relative == loss_relative);  // the kind stays the table's

  // A wide tolerance lets a gap through that the table refuses.
  const auto a = summary(0.90, 1, "d"), b = summary(0.60, 1, "d");
  CHECK_FALSE(hmb::report::compare_summaries(a, b, tolerances()).ok());
  auto wide = tolerances();
  wide.override_with("validation_accuracy=0.4,validation_accuracy_particles=0.4");
  CHECK(hmb::report::compare_summaries(a, b, wide).ok());

  auto t = tolerances();
  CHECK_THROWS_WITH(t.override_with("accuracy=0.1"),
                    Catch::Contains("--tolerance") && Catch::Contains("no figure 'accuracy'") &&
                        Catch::Contains("validation_accuracy_particles"));
  CHECK_THROWS_WITH(t.override_with("validation_loss=-1"), Catch::Contains("must be a number >= 0, not '-1'"));
  CHECK_THROWS_WITH(t.override_with("validation_loss=small"), Catch::Contains("not 'small'"));
  CHECK_THROWS_WITH(t.override_with("validation_loss=0.1x"), Catch::Contains("not '0.1x'"));
  CHECK_THROWS_WITH(t.override_with("validation_loss=nan"), Catch::Contains("not 'nan'"));
  CHECK_THROWS_WITH(t.override_with("validation_loss=0x10"), Catch::Contains("not '0x10'"));  // stod's hexadecimal
  CHECK_THROWS_WITH(t.override_with("0.1"), Catch::Contains("is not NAME=VALUE"));
  CHECK_THROWS_WITH(t.override_with(""), Catch::Contains("give NAME=VALUE"));
}

TEST_CASE("compare: a report whose validation figure is not a number cannot be compared (not: differs)", "[compare]") {
  auto damaged = summary(0.9, 1, "d");
  damaged["report"]["wl-stats"]["validation_accuracy"]["value"] = nullptr;
  CHECK_THROWS_WITH(hmb::report::compare_summaries(summary(0.9, 1, "d"), damaged, tolerances()),
                    Catch::Contains("report B has no number for report.wl-stats.validation_accuracy.value"));
  auto no_loss = summary(0.9, 1, "d");
  no_loss["report"]["wl-stats"].erase("validation_loss");
  CHECK_THROWS_WITH(hmb::report::compare_summaries(no_loss, summary(0.9, 1, "d"), tolerances()),
                    Catch::Contains("report A has no number for report.wl-stats.validation_loss.value"));
}

TEST_CASE("compare: a workload's merged report, whose copies' configurations are listed, is read by what they share",
          "[compare]") {
  const auto tol = tolerances();
  // The copies differ in their results folders, so the merged report lists their configurations
  // (docs/report.md); reading a key of that list used to throw.
  auto merged = [](std::uint64_t seed_of_second) {
    auto s = summary(0.95, 42, "d");
    auto& st = s["report"]["wl-stats"];
    json first = st["config"], second = st["config"];
    first["results"] = "w/proc_0";
    second["results"] = "w/proc_1";
    second["seed"] = seed_of_second;
    st["config"] = json::array({first, second});
    st["reference_step"] = json::array({st["reference_step"], st["reference_step"]});
    return s;
  };
  auto same = hmb::report::compare_summaries(merged(42), merged(42), tol);
  CHECK(same.ok());
  auto against_one = hmb::report::compare_summaries(merged(42), summary(0.95, 42, "d"), tol);
  CHECK(against_one.ok());  // one run of the same workload
  // Copies that ran different seeds are no single workload: the row shows their list and differs.
  auto mixed = hmb::report::compare_summaries(merged(43), summary(0.95, 42, "d"), tol);
  CHECK_FALSE(mixed.same_workload);
  const auto text = hmb::report::format_comparison(mixed);
  CHECK_THAT(text, Catch::Contains("[42,43]"));
}

TEST_CASE("compare: values are compared as JSON, so the seed 42 is not the text \"42\"", "[compare]") {
  auto text_seed = summary(0.95, 42, "d");
  text_seed["report"]["wl-stats"]["config"]["seed"] = "42";
  const auto r = hmb::report::compare_summaries(summary(0.95, 42, "d"), text_seed, tolerances());
  CHECK_FALSE(r.same_workload);
}

TEST_CASE("compare: a report of another schema version is refused, naming both versions", "[compare]") {
  auto other = summary(0.95, 42, "d");
  other["context"] = {{"schema_version", 99}};
  CHECK_THROWS_WITH(hmb::report::compare_summaries(summary(0.95, 42, "d"), other, tolerances()),
                    Catch::Contains("report B has schema version 99") &&
                        Catch::Contains("reads version " + std::to_string(hmb::report::kSchemaVersion)));
  auto current = summary(0.95, 42, "d");
  current["context"] = {{"schema_version", hmb::report::kSchemaVersion}};
  CHECK(hmb::report::compare_summaries(current, summary(0.95, 42, "d"), tolerances()).ok());
}

TEST_CASE("compare: fields of unexpected types give compare's own error or '-', never a JSON library exception",
          "[compare]") {
  const auto tol = tolerances();
  auto context_list = summary(0.95, 42, "d");
  context_list["context"] = json::array({1, 2});  // a JSON pointer into it would throw parse_error
  const auto r = hmb::report::compare_summaries(summary(0.95, 42, "d"), context_list, tol);
  CHECK(r.ok());
  bool shown = false;
  for (const auto& row : r.rows)
    if (row.what == "ran on: cpu_model") shown = row.b == "-";
  CHECK(shown);
  auto log_number = summary(0.95, 42, "d");
  log_number["report"]["log"] = 1;
  CHECK_THROWS_AS(hmb::report::compare_summaries(summary(0.95, 42, "d"), log_number, tol), hmb::Error);
  auto stats_list = summary(0.95, 42, "d");
  stats_list["report"]["wl-stats"] = json::array();
  CHECK_THROWS_WITH(hmb::report::compare_summaries(stats_list, summary(0.95, 42, "d"), tol),
                    Catch::Contains("report A has no report.wl-stats"));
}
