// The Trainer on small synthetic events with the tiny model: the loop's records, and that every
// failure ends the run with a reason instead of an exception or a hang.
#include <catch2/catch.hpp>
#include <c10/util/Exception.h>
#include <torch/torch.h>

#include <cmath>
#include <csignal>
#include <random>

#include "data/loader.hpp"
#include "dist/communicator.hpp"
#include "metrics/timeline.hpp"
#include "metrics/window.hpp"
#include "model/model_config.hpp"
#include "model/weights_io.hpp"
#include "train/determinism.hpp"
#include "train/trainer.hpp"
#include "util/error.hpp"
#include "util/process.hpp"

using namespace hmb;

namespace {
// `n_train` + 4 validation events of 40..90 elements: towers and tracks with plausible targets.
std::shared_ptr<const data::EventTable> events(int n_train, unsigned seed = 5) {
  auto t = std::make_shared<data::EventTable>();
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (int e = 0; e < n_train + 4; ++e) {
    const int n = 40 + static_cast<int>(rng() % 50);
    std::vector<float> x(static_cast<size_t>(n * data::kXColumns)), y(static_cast<size_t>(n * data::kYColumns), 0.0f);
    for (int r = 0; r < n; ++r) {
      float* xr = &x[static_cast<size_t>(r * data::kXColumns)];
      float* yr = &y[static_cast<size_t>(r * data::kYColumns)];
      const bool track = u(rng) < 0.5f;
      xr[data::xcol::type] = static_cast<float>(track ? data::ElementType::track : data::ElementType::tower);
      for (int c = 1; c < data::kXColumns; ++c) xr[c] = u(rng);
      const int cls = track ? 1 : (u(rng) < 0.5f ? 0 : 2 + static_cast<int>(rng() % 2));
      yr[data::ycol::cls] = static_cast<float>(cls);
      if (cls != 0)
        for (int c = data::ycol::pt; c <= data::ycol::energy; ++c) yr[c] = xr[c - 1] + 0.1f * u(rng);
    }
    t->append(x.data(), y.data(), n, e < n_train ? 0 : 1);
  }
  return t;
}

// A trainer with everything it measures with, on the CPU.
struct Rig {
  explicit Rig(std::int64_t warmup = 1, int epochs = 2, int log_every = 1)
      : window(clock, sync, warmup), timeline(clock) {
    cfg.epochs = epochs;
    cfg.warmup_steps = warmup;
    cfg.batch_size = 2;
    cfg.lr = 2e-3;
    cfg.log_every = log_every;
    cfg.preset = "tiny";
    window.add_observer(&meter);
    train::configure_determinism(11, true, train::Precision::fp32, 1, torch::kCPU);
    net = model::MLPF(model::preset("tiny"));
    trainer = std::make_unique<train::Trainer>(cfg, net, torch::Device(torch::kCPU), comm,
                                               train::Instruments{window, timeline, sync, clock});
  }
  data::LoaderConfig loader_config() const {
    data::LoaderConfig lc;
    lc.batch_size = 2;
    lc.threads = 1;
    lc.seed = 11;
    return lc;
  }
  train::Config cfg;
  metrics::SteadyClock clock;
  metrics::TorchDeviceSync sync{torch::Device(torch::kCPU)};
  metrics::TimedWindow window;
  metrics::HostTimeline timeline;
  metrics::ThroughputMeter meter;
  dist::SingleProcess comm;
  model::MLPF net{nullptr};
  std::unique_ptr<train::Trainer> trainer;
};

// Throws `what` from the window's n-th step sample (as a device error surfaces at a read-back).
struct ThrowAtStep final : metrics::WindowObserver {
  ThrowAtStep(std::int64_t n, std::function<void()> f) : at(n), raise(std::move(f)) {}
  std::int64_t at;
  std::function<void()> raise;
  void step(const metrics::StepSample& s) override {
    if (s.step == at) raise();
  }
};
}  // namespace

TEST_CASE("trainer: epochs of steps, a window after the warm-up, validation from summed counts", "[train][trainer]") {
  auto table = events(12);
  Rig rig(/*warmup=*/1, /*epochs=*/2);
  data::Loader train_loader(table, data::Split::train, rig.loader_config());
  auto vc = rig.loader_config();
  vc.shuffle = false;
  data::Loader val_loader(table, data::Split::validation, vc);
  train::RunResult r;
  rig.trainer->fit(train_loader, val_loader, r);
  INFO(r.error);
  REQUIRE(r.status == "ok");
  CHECK(r.steps.size() == 12);  // 6 steps of 2 events, twice
  REQUIRE(r.epochs.size() == 2);
  CHECK(r.epochs[1].validation.events == 4);
  CHECK(r.epochs[1].validation.confusion.size() == 36);
  CHECK_FALSE(r.steps[0].timed);
  CHECK(r.steps[1].timed);
  CHECK(rig.meter.steps() == 11);
  CHECK(rig.meter.events() == 22);
  CHECK(rig.meter.seconds() > 0);
  double step_sum = 0;
  for (const auto& s : r.steps) {
    CHECK(std::isfinite(s.loss));
    CHECK(s.step_s > 0);
    if (s.timed && s.epoch == 1) step_sum += s.step_s;
  }
  // Steps are timed end to end, so the timed steps of epoch 1 fill that part of the window.
  CHECK(step_sum <= rig.meter.seconds() * 1.0001);
  CHECK(r.epochs[0].train_loss > 0);
  CHECK(r.padding_fraction > 0);
  CHECK(rig.trainer->timed_elements() > 0);
}

TEST_CASE("trainer: two runs with one seed agree bit for bit", "[train][trainer]") {
  auto table = events(8);
  std::vector<std::string> checksums;
  std::vector<std::vector<double>> losses;
  for (int run = 0; run < 2; ++run) {
    Rig rig(1, 1);
    data::Loader tl(table, data::Split::train, rig.loader_config());
    data::Loader vl(table, data::Split::validation, rig.loader_config());
    train::RunResult r;
    rig.trainer->fit(tl, vl, r);
    REQUIRE(r.status == "ok");
    checksums.push_back(train::tensors_checksum(model::state_dict(*rig.net)));
    losses.emplace_back();
    for (const auto& s : r.steps) losses.back().push_back(s.loss);
  }
  CHECK(checksums[0] == checksums[1]);
  CHECK(losses[0] == losses[1]);
}

TEST_CASE("trainer: an out-of-memory error ends the run as failed, saying what to lower", "[train][trainer][failure]") {
  auto table = events(12);
  Rig rig(1, 2);
  ThrowAtStep oom(3, [] {
    throw c10::OutOfMemoryError(c10::SourceLocation{"step", "trainer", 1}, "CUDA out of memory. Tried to allocate 20.00 GiB");
  });
  rig.window.add_observer(&oom);
  data::Loader tl(table, data::Split::train, rig.loader_config());
  data::Loader vl(table, data::Split::validation, rig.loader_config());
  train::RunResult r;
  rig.trainer->set_device_description("a 40 GiB test GPU");
  REQUIRE_NOTHROW(rig.trainer->fit(tl, vl, r));
  CHECK(r.status == "failed");
  CHECK_THAT(r.error, Catch::StartsWith("out of memory in training") && Catch::Contains("batch size 2") &&
                          Catch::Contains("a 40 GiB test GPU") && Catch::Contains("lower --batch-size"));
  CHECK(r.epochs.empty());
  CHECK_FALSE(rig.window.is_open());  // closed even so
}

TEST_CASE("trainer: a loader thread's exception reaches the trainer (no terminate, no hang)", "[train][trainer][failure]") {
  auto table = events(12);
  Rig rig(1, 1);
  int calls = 0;
  data::Loader tl(table, data::Split::train, rig.loader_config(),
                  [&calls](const data::EventTable& t, const std::vector<std::int64_t>& ids, bool pin, std::int64_t pad) {
                    if (++calls == 3) throw std::runtime_error("disk said no");
                    return data::assemble_batch(t, ids, pin, pad);
                  });
  data::Loader vl(table, data::Split::validation, rig.loader_config());
  train::RunResult r;
  REQUIRE_NOTHROW(rig.trainer->fit(tl, vl, r));
  CHECK(r.status == "failed");
  CHECK_THAT(r.error, Catch::Contains("loader: batch 2") && Catch::Contains("disk said no"));
  CHECK(r.steps.size() == 2);  // the two batches made before it trained
}

TEST_CASE("trainer: a stop signal ends the run as interrupted after the current step", "[train][trainer]") {
  auto table = events(12);
  Rig rig(0, 3);
  data::Loader tl(table, data::Split::train, rig.loader_config());
  data::Loader vl(table, data::Split::validation, rig.loader_config());
  train::RunResult r;
  request_stop(SIGTERM);
  rig.trainer->fit(tl, vl, r);
  request_stop(0);
  CHECK(r.status == "interrupted");
  CHECK_THAT(r.error, Catch::Contains("signal " + std::to_string(SIGTERM)) && Catch::Contains("step 1"));
  CHECK(r.steps.size() == 1);
  CHECK(r.epochs.size() == 1);
  CHECK(r.epochs[0].validation.events == 0);  // no validation after a stop
}

TEST_CASE("trainer: a stop signal during validation ends the run as interrupted, not as a success", "[train][trainer]") {
  auto table = events(12);
  Rig rig(0, 2);
  data::Loader tl(table, data::Split::train, rig.loader_config());
  data::Loader vl(table, data::Split::validation, rig.loader_config(),
                  [](const data::EventTable& t, const std::vector<std::int64_t>& ids, bool pin, std::int64_t pad) {
                    request_stop(SIGINT);  // arrives while the first validation batch is made
                    return data::assemble_batch(t, ids, pin, pad);
                  });
  train::RunResult r;
  rig.trainer->fit(tl, vl, r);
  request_stop(0);
  CHECK(r.status == "interrupted");
  CHECK_THAT(r.error, Catch::Contains("signal " + std::to_string(SIGINT)) && Catch::Contains("validation of epoch 1"));
  REQUIRE(r.epochs.size() == 1);  // the second epoch never started
  CHECK(r.epochs[0].validation.interrupted);
  CHECK(r.epochs[0].validation.events == 0);
}

TEST_CASE("trainer: a non-finite loss ends the run as failed with the step", "[train][trainer][failure]") {
  auto table = events(12);
  Rig rig(0, 2, /*log_every=*/4);
  rig.cfg.lr = 1e30;
  rig.trainer = std::make_unique<train::Trainer>(rig.cfg, rig.net, torch::Device(torch::kCPU), rig.comm,
                                                 train::Instruments{rig.window, rig.timeline, rig.sync, rig.clock});
  data::Loader tl(table, data::Split::train, rig.loader_config());
  data::Loader vl(table, data::Split::validation, rig.loader_config());
  train::RunResult r;
  rig.trainer->fit(tl, vl, r);
  CHECK(r.status == "failed");
  CHECK(r.steps.size() <= 8);  // found at the first read-back after it happened
  // Step 1's loss comes from the seeded weights; its update with lr 1e30 throws them far out of
  // range, so step 2 is the first with a loss that is not finite, and the error names it.
  REQUIRE(r.steps.size() >= 2);
  CHECK(std::isfinite(r.steps[0].loss));
  CHECK(r.steps[1].step == 2);
  CHECK_FALSE(std::isfinite(r.steps[1].loss));
  CHECK_THAT(r.error, Catch::Contains("not finite") && Catch::Contains("at step 2:") && Catch::Contains("--lr"));
}

TEST_CASE("trainer: every step tells its phases in order, for the trace", "[train][trainer][trace]") {
  struct Phases final : metrics::StepPhases {
    std::vector<std::string> log;
    void enter(metrics::Phase p) override { log.emplace_back(metrics::to_string(p)); }
    void leave() override { log.emplace_back("end"); }
  } phases;
  auto table = events(4);
  Rig rig(/*warmup=*/1, /*epochs=*/1);
  train::Trainer trainer(rig.cfg, rig.net, torch::Device(torch::kCPU), rig.comm,
                         train::Instruments{rig.window, rig.timeline, rig.sync, rig.clock, &phases});
  data::Loader train_loader(table, data::Split::train, rig.loader_config());
  auto vc = rig.loader_config();
  vc.shuffle = false;
  data::Loader val_loader(table, data::Split::validation, vc);
  train::RunResult r;
  trainer.fit(train_loader, val_loader, r);
  REQUIRE(r.status == "ok");
  REQUIRE(r.steps.size() == 2);
  // Two steps (the last step of the run ends the loop: no data wait after it).
  const std::vector<std::string> step{"data wait", "forward", "backward", "optimiser", "end"};
  std::vector<std::string> expected = step;
  expected.insert(expected.end(), step.begin(), step.end());
  CHECK(phases.log == expected);
}
