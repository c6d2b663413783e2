#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>
#include <cstring>

#include "model/init.hpp"
#include "model/mlpf.hpp"
#include "model/model_config.hpp"

using namespace hmb::model;

namespace {
// The generator's integers, drawn the way model/init.cpp documents (24 bits per value).
std::vector<int64_t> integers(int64_t n) {
  auto k = torch::randint(0, int64_t{1} << 24, {n}, torch::TensorOptions().dtype(torch::kInt64));
  return {k.data_ptr<int64_t>(), k.data_ptr<int64_t>() + n};
}
bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }
}  // namespace

TEST_CASE("init: portable_uniform is the documented scalar double formula of the generator's integers, bit for bit",
          "[model][init]") {
  const double lo = -0.125, hi = 0.0883883476483184;
  torch::manual_seed(7);
  const auto k = integers(5000);
  torch::manual_seed(7);
  const auto u = portable_uniform({50, 100}, lo, hi).contiguous();
  REQUIRE(u.scalar_type() == torch::kFloat32);
  REQUIRE(u.numel() == 5000);
  const float* p = u.data_ptr<float>();
  for (int64_t i = 0; i < 5000; ++i) {
    volatile double x = static_cast<double>(k[static_cast<size_t>(i)]) * (1.0 / 16777216.0);
    volatile double y = x * (hi - lo);
    const auto want = static_cast<float>(y + lo);
    INFO("element " << i);
    REQUIRE(same_bits(p[i], want));
    REQUIRE(p[i] >= static_cast<float>(lo));
    REQUIRE(p[i] <= static_cast<float>(hi));
  }
}

TEST_CASE("init: portable_normal is Box-Muller in double on pairs of the generator's integers", "[model][init]") {
  torch::manual_seed(3);
  const auto a = integers(4000);
  const auto b = integers(4000);
  torch::manual_seed(3);
  const auto z = portable_normal({40, 100}).contiguous();
  const float* p = z.data_ptr<float>();
  double sum = 0, sum2 = 0;
  for (int64_t i = 0; i < 4000; ++i) {
    const auto s = static_cast<size_t>(i);
    const double u1 = static_cast<double>(a[s] + 1) / 16777216.0, u2 = static_cast<double>(b[s]) / 16777216.0;
    const auto want = static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
    INFO("element " << i);
    REQUIRE(same_bits(p[i], want));
    REQUIRE(std::isfinite(p[i]));
    sum += p[i];
    sum2 += static_cast<double>(p[i]) * p[i];
  }
  // A standard normal: mean within 5 standard errors of 0, variance within 10% of 1.
  const double mean = sum / 4000, var = sum2 / 4000 - mean * mean;
  CHECK(std::abs(mean) < 5.0 / std::sqrt(4000.0));
  CHECK(var == Approx(1.0).epsilon(0.1));
}

TEST_CASE("init: the model's weights come from the seed only, Linear layers within +-1/sqrt(fan_in)", "[model][init]") {
  const auto cfg = preset("tiny");
  torch::manual_seed(42);
  MLPF a(cfg);
  torch::manual_seed(42);
  MLPF b(cfg);
  torch::manual_seed(43);
  MLPF c(cfg);
  bool any_differs_from_c = false;
  const auto pa = a->named_parameters(), pb = b->named_parameters(), pc = c->named_parameters();
  for (const auto& item : pa) {
    INFO(item.key());
    REQUIRE(torch::equal(item.value(), pb[item.key()]));
    if (!torch::equal(item.value(), pc[item.key()])) any_differs_from_c = true;
  }
  CHECK(any_differs_from_c);
  REQUIRE(torch::equal(a->named_buffers()["conv_id.0.message_building_layer.codebook_random_rotations"],
                       b->named_buffers()["conv_id.0.message_building_layer.codebook_random_rotations"]));
  int n_linear = 0;
  for (const auto& m : a->modules(false)) {
    if (auto* linear = m->as<torch::nn::Linear>()) {
      ++n_linear;
      const double bound = 1.0 / std::sqrt(static_cast<double>(linear->weight.size(1)));
      CHECK(linear->weight.abs().max().item<double>() <= bound);
      // Not all zero, not constant: actually drawn.
      CHECK(linear->weight.std().item<double>() > 0.3 * bound);
    }
  }
  // docs/model.md's shapes: two linear layers in each feed-forward network (the two stacks'
  // input embeddings, the class head, the five momentum heads) and three in the distance
  // network of each graph layer.
  CHECK(n_linear == 2 * 2 + 2 * cfg.num_convs * 3 + 2 + 5 * 2);
}
