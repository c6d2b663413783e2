// report.html: the charts draw what was measured, and nothing that was not.
#include <catch2/catch.hpp>

#include "report/page.hpp"

namespace {
hmb::train::RunResult run_of(int epochs) {
  hmb::train::RunResult r;
  for (int e = 1; e <= epochs; ++e) {
    hmb::train::EpochRecord rec;
    rec.epoch = e;
    rec.train_loss = 2.0 / e;
    rec.validation.loss = 1.5 / e;
    rec.validation.accuracy = 0.5 + 0.1 * e;
    rec.validation.accuracy_particles = 0.4 + 0.1 * e;
    rec.validation.events = 10;
    r.epochs.push_back(rec);
  }
  return r;
}
}  // namespace

TEST_CASE("report page: an epoch without validation has no validation point, and no NaN is drawn", "[report]") {
  auto r = run_of(2);
  r.status = "interrupted";
  r.epochs.back().validation = {};
  r.epochs.back().validation.interrupted = true;
  const auto page = hmb::report::make_page(r);
  CHECK_THAT(page, !Catch::Contains("nan") && !Catch::Contains("inf"));
  // Epoch 2's validation would have been a zero, pulling the lower label of the loss chart (train
  // losses 2 and 1, validation 1.5) and of the accuracy chart (0.6 and 0.5) down to 0.
  CHECK_THAT(page, !Catch::Contains("text-anchor='end'>0</text>"));
  CHECK_THAT(page, Catch::Contains("text-anchor='end'>0.5</text>") && Catch::Contains("text-anchor='end'>1</text>"));
}

TEST_CASE("report page: one epoch is drawn at its own epoch number", "[report]") {
  const auto page = hmb::report::make_page(run_of(1));
  // The epoch axis is centred on epoch 1 (0.5 to 1.5), not stretched from 1 to 2.
  CHECK_THAT(page, Catch::Contains("y='200'>0.5</text>") && Catch::Contains("y='200' text-anchor='end'>1.5</text>") &&
                       !Catch::Contains("y='200' text-anchor='end'>2</text>"));
}
