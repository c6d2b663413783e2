// The fp16 loss scaler's logic, on CPU tensors (the arithmetic is the same on a GPU).
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <limits>

#include "train/grad_scaler.hpp"

using hmb::train::GradScaler;

namespace {
torch::Tensor param_with_grad(std::vector<float> grad) {
  auto p = torch::zeros({static_cast<int64_t>(grad.size())}, torch::requires_grad());
  p.mutable_grad() = torch::tensor(grad);
  return p;
}
}  // namespace

TEST_CASE("grad scaler: scales the loss, unscales finite gradients, grows after the interval", "[train][fp16]") {
  GradScaler s(true, /*init_scale=*/8.0, /*interval=*/2);
  CHECK(s.scale(torch::tensor(1.5f)).item<float>() == 12.0f);
  auto p = param_with_grad({8.0f, -16.0f});
  REQUIRE(s.unscale_and_check({p}));
  CHECK(torch::equal(p.grad(), torch::tensor({1.0f, -2.0f})));
  CHECK(s.current_scale() == 8.0);
  auto q = param_with_grad({8.0f, 8.0f});
  REQUIRE(s.unscale_and_check({q}));
  CHECK(s.current_scale() == 16.0);  // two good steps in a row
}

TEST_CASE("grad scaler: a step with inf or NaN gradients is skipped and the scale halved", "[train][fp16]") {
  GradScaler s(true, 8.0, 2);
  auto p = param_with_grad({1.0f, std::numeric_limits<float>::infinity()});
  CHECK_FALSE(s.unscale_and_check({p}));
  CHECK(s.current_scale() == 4.0);
  CHECK(s.skipped_steps() == 1);
  auto q = param_with_grad({std::numeric_limits<float>::quiet_NaN()});
  CHECK_FALSE(s.unscale_and_check({q}));
  CHECK(s.current_scale() == 2.0);
}

TEST_CASE("grad scaler: disabled (fp32, bf16) it changes nothing", "[train][fp16]") {
  GradScaler s(false);
  CHECK(s.scale(torch::tensor(1.5f)).item<float>() == 1.5f);
  auto p = param_with_grad({std::numeric_limits<float>::infinity()});
  CHECK(s.unscale_and_check({p}));
  CHECK(std::isinf(p.grad()[0].item<float>()));
}
