// The reference step (train/reference_step.hpp) and the hidden test fault (model/test_fault.hpp):
// repeatable, leaves the weights as they were, and moves when a weight is wrong.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <random>

#include "data/loader.hpp"
#include "model/model_config.hpp"
#include "model/test_fault.hpp"
#include "model/weights_io.hpp"
#include "train/determinism.hpp"
#include "train/reference_step.hpp"
#include "util/error.hpp"

using namespace hmb;

namespace {
data::Batch batch_of(int events, unsigned seed = 3) {
  auto t = std::make_shared<data::EventTable>();
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (int e = 0; e < events; ++e) {
    const int n = 30 + static_cast<int>(rng() % 30);
    std::vector<float> x(static_cast<size_t>(n * data::kXColumns)), y(static_cast<size_t>(n * data::kYColumns), 0.0f);
    for (int r = 0; r < n; ++r) {
      float* xr = &x[static_cast<size_t>(r * data::kXColumns)];
      float* yr = &y[static_cast<size_t>(r * data::kYColumns)];
      const bool track = u(rng) < 0.5f;
      xr[data::xcol::type] = static_cast<float>(track ? data::ElementType::track : data::ElementType::tower);
      for (int c = 1; c < data::kXColumns; ++c) xr[c] = u(rng);
      const int cls = track ? 1 : (u(rng) < 0.5f ? 0 : 2);
      yr[data::ycol::cls] = static_cast<float>(cls);
      if (cls != 0)
        for (int c = data::ycol::pt; c <= data::ycol::energy; ++c) yr[c] = xr[c - 1] + 0.1f * u(rng);
    }
    t->append(x.data(), y.data(), n, 0);
  }
  std::vector<std::int64_t> ids(static_cast<size_t>(events));
  for (int i = 0; i < events; ++i) ids[static_cast<size_t>(i)] = i;
  return data::assemble_batch(*t, ids, false);
}

model::MLPF fresh_model() {
  train::configure_determinism(11, true, train::Precision::fp32, 1, torch::kCPU);
  torch::manual_seed(11);
  return model::MLPF(model::preset("tiny"));
}

std::vector<double> numbers(const nlohmann::json& j, const char* key) { return j[key].get<std::vector<double>>(); }
}  // namespace

TEST_CASE("reference step: repeatable, weights restored, loss falls along the gradient", "[reference_step]") {
  auto net = fresh_model();
  const auto batch = batch_of(2);
  const auto before = train::tensors_checksum(model::state_dict(*net));
  const auto a = train::reference_step(net, batch, torch::kCPU);
  CHECK(train::tensors_checksum(model::state_dict(*net)) == before);
  CHECK(net->is_training());
  const auto b = train::reference_step(net, batch, torch::kCPU);
  CHECK(a == b);
  const auto losses = numbers(a, "losses");
  REQUIRE(losses.size() == 3);  // L0 and two steps
  CHECK(numbers(a, "grad_norms").size() == 2);
  CHECK(losses.back() < losses.front());
  CHECK(a["events"] == 2);
}

TEST_CASE("reference step: a stop asked for ends it before the next pass, weights restored", "[reference_step]") {
  auto net = fresh_model();
  const auto batch = batch_of(2);
  const auto before = train::tensors_checksum(model::state_dict(*net));
  int asked = 0;
  train::ReferenceStepConfig cfg;
  cfg.stop = [&asked] { return ++asked > 1; };  // the signal comes during the first pass
  const auto r = train::reference_step(net, batch, torch::kCPU, cfg);
  CHECK(asked == 2);
  CHECK(numbers(r, "losses").size() == 1);  // L0 only: the two steps were not taken
  CHECK(train::tensors_checksum(model::state_dict(*net)) == before);
  CHECK(net->is_training());
}

TEST_CASE("test fault: a weight scaled by 1.01 or changed by 1e-3 moves the reference step", "[reference_step]") {
  const auto batch = batch_of(2);
  auto clean = fresh_model();
  const auto l0 = numbers(train::reference_step(clean, batch, torch::kCPU), "losses");
  for (const char* spec : {"scale:1.01", "add:1e-3"}) {
    auto net = fresh_model();
    const auto what = model::apply_test_fault(net, spec);
    CHECK_THAT(what, Catch::Contains("parameter"));
    const auto l1 = numbers(train::reference_step(net, batch, torch::kCPU), "losses");
    double worst = 0;
    for (size_t i = 0; i < l0.size(); ++i) worst = std::max(worst, std::fabs(l1[i] - l0[i]) / std::fabs(l0[i]));
    INFO(spec << ": largest relative change " << worst);
    CHECK(worst > 1e-5);  // far above float32 rounding of the same computation (~1e-7)
  }
  auto net = fresh_model();
  CHECK_THROWS_AS(model::apply_test_fault(net, "scale"), hmb::Error);
  CHECK_THROWS_AS(model::apply_test_fault(net, "rotate:2"), hmb::Error);
  CHECK_THROWS_AS(model::apply_test_fault(net, "scale:x"), hmb::Error);
  CHECK_THROWS_AS(model::apply_test_fault(net, "scale:2@no.such.parameter"), hmb::Error);
}
