#include <catch2/catch.hpp>

#include "report/compare.hpp"

namespace {
nlohmann::json summary(double acc, std::uint64_t seed, const std::string& data) {
  return {{"report",
           {{"log", "ok"},
            {"wl-stats",
             {{"config", {{"preset", "tiny"}, {"seed", seed}, {"batch-size", 4}}},
              {"data_checksum", data},
              {"initial_weights_checksum", "w0"},
              {"ranks", 1},
              {"validation_accuracy", {{"value", acc}, {"unit", "fraction"}}},
              {"validation_accuracy_particles", {{"value", acc - 0.1}, {"unit", "fraction"}}},
              {"validation_loss", {{"value", 2.0}, {"unit", "1"}}}}}}}};
}
}  // namespace

TEST_CASE("compare: identical and near-identical runs agree", "[compare]") {
  hmb::report::Tolerances tol;
  CHECK(hmb::report::compare_summaries(summary(0.9576, 42, "d"), summary(0.9576, 42, "d"), tol).ok());
  CHECK(hmb::report::compare_summaries(summary(0.9576, 42, "d"), summary(0.9579, 42, "d"), tol).ok());
}

TEST_CASE("compare: another seed or data is another workload, a large gap fails", "[compare]") {
  hmb::report::Tolerances tol;
  auto seed = hmb::report::compare_summaries(summary(0.95, 42, "d"), summary(0.95, 43, "d"), tol);
  CHECK_FALSE(seed.same_workload);
  CHECK_FALSE(seed.ok());
  auto data = hmb::report::compare_summaries(summary(0.95, 42, "d"), summary(0.95, 42, "e"), tol);
  CHECK_FALSE(data.same_workload);
  auto gap = hmb::report::compare_summaries(summary(0.95, 42, "d"), summary(0.90, 42, "d"), tol);
  CHECK(gap.same_workload);
  CHECK_FALSE(gap.metrics_agree);
  CHECK_THAT(hmb::report::format_comparison(gap), Catch::Contains("DIFFERS"));
}

TEST_CASE("compare: a failed run's report is refused", "[compare]") {
  auto bad = summary(0.9, 1, "d");
  bad["report"]["log"] = "ERROR";
  CHECK_THROWS_WITH(hmb::report::compare_summaries(bad, summary(0.9, 1, "d"), {}), Catch::Contains("failed run"));
}
