// The workload's merged report: the machine's total throughput, and every other per-copy figure
// as its distribution over the copies.
#include <catch2/catch.hpp>

#include "report/summary.hpp"

namespace {
nlohmann::json copy_summary(double events_per_s, double accuracy, double step_s, const std::string& containment) {
  hmb::train::RunResult r;
  r.config = {{"seed", 42}, {"preset", "tiny"}, {"batch-size", 4}, {"precision", "fp32"}};
  r.device = "cpu";
  r.data_checksum = "abc";
  r.final_weights_checksum = "def";
  hmb::train::EpochRecord e;
  e.epoch = 1;
  e.train_s = 10;
  e.events_per_s = events_per_s;
  e.validation.accuracy = accuracy;
  e.validation.confusion = {1, 2, 3, 4};
  e.validation.events = 10;
  r.epochs.push_back(e);
  for (int i = 1; i <= 3; ++i) r.steps.push_back({1, i, 4, step_s, 0.0, 1.0, true, false});
  r.events_per_s = events_per_s;
  r.timed_steps = 3;
  r.timed_events = 12;
  r.warnings = {"short window"};
  hmb::report::RunInfo info;
  info.containment = containment;
  return hmb::report::make_summary(r, info);
}
}  // namespace

TEST_CASE("merged report: throughput adds up, other figures are statistics over the copies", "[report][workload]") {
  hmb::report::RunInfo info;
  info.copies = 2;
  info.containment = "podman";
  auto merged = hmb::report::combine_copies(
      {copy_summary(10.0, 0.80, 0.4, "podman"), copy_summary(30.0, 0.90, 0.2, "podman")}, info);
  const auto& st = merged["report"]["wl-stats"];
  CHECK(merged["report"]["log"] == "ok");
  CHECK(merged["report"]["wl-scores"][hmb::report::kScoreKey] == 40.0);
  CHECK(st["throughput"]["value"] == 40.0);
  CHECK(st["throughput"]["count"] == 2);
  CHECK(st["throughput"]["min"] == 10.0);
  CHECK(st["throughput"]["max"] == 30.0);
  CHECK(st["validation_accuracy"]["value"].get<double>() == Approx(0.85));  // the mean, not copy 0's
  CHECK(st["validation_accuracy"]["min"].get<double>() == Approx(0.80));
  CHECK(st["validation_accuracy"]["max"].get<double>() == Approx(0.90));
  CHECK(st["validation_accuracy"]["unit"] == "fraction");
  CHECK(st["step_time"]["avg"].get<double>() == Approx(0.3));  // over the copies' averages
  CHECK(st["step_time"]["count"] == 2);
  CHECK(st["timed_events"]["value"] == 24.0);
  CHECK(st["confusion"]["value"] == nlohmann::json({2, 4, 6, 8}));
  CHECK(st["warnings"] == nlohmann::json({"short window"}));
  CHECK(st["data_checksum"] == "abc");
  CHECK(st["copy_throughput"]["median"] == 20.0);
  CHECK_FALSE(st.contains("epochs"));
  CHECK(merged["app"]["containment"] == "podman");
  REQUIRE(merged["report"]["copies"].size() == 2);
  for (const auto& c : merged["report"]["copies"]) CHECK(c["app"]["containment"] == "podman");
}

TEST_CASE("merged report: one copy has the same shape, a failed copy fails the run", "[report][workload]") {
  hmb::report::RunInfo info;
  auto one = hmb::report::combine_copies({copy_summary(12.0, 0.7, 0.5, "none")}, info);
  CHECK(one["report"]["wl-stats"]["validation_accuracy"]["count"] == 1);
  CHECK(one["report"]["wl-stats"]["validation_accuracy"]["value"].get<double>() == Approx(0.7));
  info.copies = 2;
  auto bad = hmb::report::make_error_summary("out of memory", info);
  auto mixed = hmb::report::combine_copies({copy_summary(12.0, 0.7, 0.5, "none"), bad}, info);
  CHECK(mixed["report"]["log"] == "ERROR");
  CHECK(mixed["report"]["wl-scores"].empty());
  CHECK(mixed["report"]["error"] == "copy 1: out of memory");  // whose error it is, with several copies
  auto alone = hmb::report::combine_copies({bad}, info);
  CHECK(alone["report"]["error"] == "out of memory");  // one copy: its error as it is
  CHECK(mixed["report"]["wl-stats"]["copies_ok"] == 1);
}

TEST_CASE("merged report: a measured figure absent in some copies, or in all", "[report][workload]") {
  auto with_mfu = [](std::optional<double> mfu) {
    hmb::train::RunResult r;
    r.config = {{"seed", 42}};
    r.events_per_s = 10;
    r.utilisation.mfu = mfu ? hmb::metrics::Figure::of(*mfu, "fraction")
                            : hmb::metrics::Figure::absent("fraction", "CPU peak not measured");
    r.utilisation.gpu_energy = hmb::metrics::Figure::absent("J", "no GPU");
    return hmb::report::make_summary(r, {});
  };
  auto merged = hmb::report::combine_copies({with_mfu(0.2), with_mfu(std::nullopt), with_mfu(0.4)}, {});
  const auto& st = merged["report"]["wl-stats"];
  CHECK(st["mfu"]["value"].get<double>() == Approx(0.3));  // over the copies that measured it
  CHECK(st["mfu"]["count"] == 2);
  CHECK(st["mfu"]["absent_in_copies"] == 1);
  CHECK(st["mfu"]["reason"] == "CPU peak not measured");
  CHECK(st["gpu_energy"]["value"].is_null());
  CHECK(st["gpu_energy"]["reason"] == "no GPU");
  CHECK(st["gpu_energy"]["unit"] == "J");
}

TEST_CASE("merged report: a figure's source is kept when the copies agree, listed when they differ", "[report][workload]") {
  auto with_peak = [](const std::string& source) {
    hmb::train::RunResult r;
    r.config = {{"seed", 42}};
    r.events_per_s = 10;
    r.utilisation.peak_flop_per_s = hmb::metrics::Figure::of(1e11, "FLOP/s", source);
    return hmb::report::make_summary(r, {});
  };
  auto same = hmb::report::combine_copies({with_peak("measured: A"), with_peak("measured: A")}, {});
  CHECK(same["report"]["wl-stats"]["peak_flop_per_s"]["source"] == "measured: A");
  auto differ = hmb::report::combine_copies({with_peak("measured: A"), with_peak("measured: B")}, {});
  CHECK(differ["report"]["wl-stats"]["peak_flop_per_s"]["source"] == "differs between the copies: measured: A | measured: B");
  // A CPU run's device memory is absent with its reason, in a copy and in the merged report.
  CHECK(same["report"]["copies"][0]["report"]["wl-stats"]["peak_device_memory"]["reason"] == "no GPU");
  CHECK(same["report"]["wl-stats"]["peak_device_memory"]["reason"] == "no GPU");
}
