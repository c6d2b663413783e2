#include <catch2/catch.hpp>

#include "report/summary.hpp"

namespace {
hmb::train::RunResult sample_run() {
  hmb::train::RunResult r;
  r.config = {{"seed", 42}, {"preset", "tiny"}, {"batch-size", 4}, {"precision", "fp32"}};
  r.device = "cpu";
  r.data_checksum = "abc";
  r.final_weights_checksum = "def";
  for (int e = 1; e <= 3; ++e) {
    hmb::train::EpochRecord rec;
    rec.epoch = e;
    rec.train_s = 10.0 * e;
    rec.events_per_s = 100.0 / e;
    rec.validation.accuracy = 0.9;
    rec.validation.loss = 1.5;
    rec.validation.events = 100;
    rec.validation.confusion.assign(36, 1);
    r.epochs.push_back(rec);
  }
  r.events_per_s = 42.5;
  r.timed_steps = 12;
  r.timed_events = 48;
  r.data_wait_fraction = 0.25;
  r.flop_per_event_train = 1e6;
  return r;
}
}  // namespace

TEST_CASE("summary: HEPscore's keys, the score and stats with units", "[report]") {
  hmb::report::RunInfo info;
  info.threads_per_copy = 4;
  auto s = hmb::report::make_summary(sample_run(), info);
  REQUIRE(s.contains("app"));
  REQUIRE(s.contains("run_info"));
  REQUIRE(s.contains("report"));
  CHECK(s["report"]["log"] == "ok");
  CHECK(s["report"]["wl-scores"][hmb::report::kScoreKey] == 42.5);
  CHECK(s["report"]["wl-stats"]["epoch_time"]["count"] == 3);
  CHECK(s["report"]["wl-stats"]["epoch_time"]["median"] == 20.0);
  CHECK(s["report"]["wl-stats"]["epoch_time"]["unit"] == "s");
  CHECK(s["report"]["wl-stats"]["throughput"]["unit"] == "events/s");
  CHECK(s["run_info"]["threads_per_copy"] == 4);
  CHECK(s["app"]["bmkdata_checksum"] == "abc");
}

TEST_CASE("summary: a failed run says ERROR and why, with no score", "[report]") {
  auto run = sample_run();
  run.status = "failed";
  run.error = "loss is NaN at step 7";
  auto s = hmb::report::make_summary(run, {});
  CHECK(s["report"]["log"] == "ERROR");
  CHECK(s["report"]["wl-scores"].empty());
  CHECK_THAT(s["report"]["error"].get<std::string>(), Catch::Contains("NaN"));
  auto e = hmb::report::make_error_summary("data file missing", {});
  CHECK(e["report"]["log"] == "ERROR");
  CHECK(e["report"]["error"] == "data file missing");
}

TEST_CASE("summary: the report written at the start says the run did not finish, and is told from others",
          "[report]") {
  const auto u = hmb::report::make_unfinished_summary({});
  CHECK(u["report"]["log"] == "ERROR");
  CHECK(u["report"]["wl-scores"].empty());
  CHECK_THAT(u["report"]["error"].get<std::string>(),
             Catch::StartsWith("the run did not finish: it started at 20") && Catch::Contains("SIGKILL"));
  CHECK(hmb::report::is_unfinished(u));
  CHECK_FALSE(hmb::report::is_unfinished(hmb::report::make_error_summary("data file missing", {})));
  CHECK_FALSE(hmb::report::is_unfinished(hmb::report::make_summary(sample_run(), {})));
  CHECK_FALSE(hmb::report::is_unfinished(nlohmann::json::array()));
}

TEST_CASE("summary: utilisation figures with units, absent ones with their reason", "[report]") {
  auto run = sample_run();
  run.utilisation.model_flop_per_s = hmb::metrics::Figure::of(2e10, "FLOP/s");
  run.utilisation.peak_flop_per_s = hmb::metrics::Figure::of(1e11, "FLOP/s", "measured: test");
  run.utilisation.mfu = hmb::metrics::Figure::of(0.2, "fraction");
  run.utilisation.gpu_busy_fraction = hmb::metrics::Figure::absent("fraction", "no GPU");
  run.utilisation.gpu_top_kernels = {{"gemm()", "compute", 1.5, 10}};
  const auto st = hmb::report::make_summary(run, {})["report"]["wl-stats"];
  CHECK(st["model_flop_per_s"]["value"] == 2e10);
  CHECK(st["peak_flop_per_s"]["source"] == "measured: test");
  CHECK_FALSE(st["peak_flop_per_s"].contains("reason"));
  CHECK(st["mfu"]["unit"] == "fraction");
  CHECK(st["gpu_busy_fraction"]["value"].is_null());
  CHECK(st["gpu_busy_fraction"]["reason"] == "no GPU");
  CHECK(st["gpu_energy"]["reason"] == "not measured");  // never set: the run ended before
  CHECK(st["gpu_top_kernels"][0]["time_s"] == 1.5);
  CHECK(st["gpu_top_kernels"][0]["count"] == 10);
}

TEST_CASE("summary: communication times are null with their reason where host clocks cannot time them",
          "[report]") {
  auto run = sample_run();
  run.dist.backend = "gloo";
  run.dist.comm_s_per_step = 0.002;
  run.dist.exposed_comm_s_per_step = 0.001;
  run.dist.exposed_comm_fraction = 0.1;
  hmb::train::RankRecord rank;
  rank.comm_s = 0.002;
  run.dist.ranks.push_back(rank);
  auto d = hmb::report::make_summary(run, {})["report"]["wl-stats"]["data_parallel"];
  CHECK(d["allreduce_time_per_step"]["value"] == 0.002);
  CHECK(d["exposed_comm_fraction"]["value"] == 0.1);
  CHECK(d["per_rank"][0]["comm_s"] == 0.002);

  run.dist.backend = "nccl";
  run.dist.comm_time_absent = "not measured with NCCL";
  d = hmb::report::make_summary(run, {})["report"]["wl-stats"]["data_parallel"];
  for (const char* key : {"allreduce_time_per_step", "exposed_comm_time_per_step", "exposed_comm_fraction"}) {
    INFO(key);
    CHECK(d[key]["value"].is_null());
    CHECK(d[key]["reason"] == "not measured with NCCL");
    CHECK_FALSE(d[key]["unit"].get<std::string>().empty());
  }
  CHECK(d["per_rank"][0]["comm_s"].is_null());
  CHECK(d["per_rank"][0]["exposed_comm_s"].is_null());
  CHECK(d["allreduce_bytes_per_step"]["value"].is_number());  // the bytes are known all the same
}

TEST_CASE("summary: a run stopped before its last validation reports none, not zeros", "[report]") {
  SECTION("interrupted during the validation of the last epoch") {
    auto run = sample_run();
    run.status = "interrupted";
    run.epochs.back().validation = {};
    run.epochs.back().validation.interrupted = true;
    const auto st = hmb::report::make_summary(run, {})["report"]["wl-stats"];
    for (const char* key : {"validation_accuracy", "validation_accuracy_particles", "validation_loss",
                            "validation_loss_classification", "validation_loss_regression", "validation_events",
                            "confusion"}) {
      INFO(key);
      CHECK(st[key]["value"].is_null());
      CHECK(st[key]["reason"] == "the validation of epoch 3 was interrupted");
    }
    // The epochs that were validated keep their figures.
    CHECK(st["epochs"][1]["validation_accuracy"] == 0.9);
    CHECK_FALSE(st["epochs"][1].contains("validation_absent"));
    CHECK(st["epochs"][2]["validation_accuracy"].is_null());
    CHECK(st["epochs"][2]["validation_absent"] == "the validation of epoch 3 was interrupted");
  }
  SECTION("stopped during the training of the last epoch") {
    auto run = sample_run();
    run.status = "failed";
    run.epochs.back().validation = {};
    const auto st = hmb::report::make_summary(run, {})["report"]["wl-stats"];
    CHECK(st["validation_accuracy"]["value"].is_null());
    CHECK(st["validation_accuracy"]["reason"] == "epoch 3 was not validated (the run stopped first)");
  }
  SECTION("no epoch at all") {
    auto run = sample_run();
    run.status = "failed";
    run.epochs.clear();
    const auto st = hmb::report::make_summary(run, {})["report"]["wl-stats"];
    CHECK(st["validation_loss"]["value"].is_null());
    CHECK(st["validation_loss"]["reason"] == "no epoch was trained (the run stopped first)");
  }
  SECTION("a validated run has them all") {
    const auto st = hmb::report::make_summary(sample_run(), {})["report"]["wl-stats"];
    CHECK(st["validation_accuracy"]["value"] == 0.9);
    CHECK_FALSE(st["validation_accuracy"].contains("reason"));
    CHECK(st["confusion"]["value"].size() == 36);
  }
}

TEST_CASE("summary: an empty timed window gives absent rates, not zeros", "[report]") {
  auto run = sample_run();
  run.status = "failed";
  run.timed_steps = 0;
  run.timed_events = 0;
  run.events_per_s = 0;
  const auto st = hmb::report::make_summary(run, {})["report"]["wl-stats"];
  for (const char* key : {"throughput", "data_wait_fraction", "model_flop_per_event", "model_flop_per_s"}) {
    INFO(key);
    CHECK(st[key]["value"].is_null());
    CHECK(st[key]["reason"] == "empty timed window");
  }
  CHECK(st["timed_events"]["value"] == 0);
  // With timed steps, the same figures are numbers (model FLOP/s from the cost model when the
  // utilisation figures were never made).
  auto ok = hmb::report::make_summary(sample_run(), {})["report"]["wl-stats"];
  CHECK(ok["throughput"]["value"] == 42.5);
  CHECK(ok["data_wait_fraction"]["value"] == 0.25);
  CHECK(ok["model_flop_per_s"]["value"] == Approx(42.5e6));
}
