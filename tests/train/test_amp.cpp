// fp16 loss scaling and the fused AdamW whose step the device may skip, on CPU tensors (LibTorch
// has CPU kernels of the same AMP and fused-optimiser ops; the logic is the same on a GPU).
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <limits>

#include "train/amp.hpp"

using hmb::train::FusedAdamW;
using hmb::train::LossScaler;

namespace {
const torch::Device cpu(torch::kCPU);
}

TEST_CASE("loss scaler: scales the loss, unscales finite gradients, grows after the interval", "[train][fp16]") {
  LossScaler s(cpu, /*init_scale=*/8.0, 2.0, 0.5, /*interval=*/2);
  CHECK(s.scale(torch::tensor(1.5f)).item<float>() == 12.0f);
  std::vector<torch::Tensor> g{torch::tensor({8.0f, -16.0f})};
  s.unscale(g);
  CHECK(torch::equal(g[0], torch::tensor({1.0f, -2.0f})));
  CHECK(s.found_inf().item<float>() == 0.0f);
  s.update();
  CHECK(s.current_scale() == 8.0);
  std::vector<torch::Tensor> h{torch::tensor({8.0f, 8.0f})};
  s.unscale(h);
  s.update();
  CHECK(s.current_scale() == 16.0);  // two clean steps in a row
}

TEST_CASE("loss scaler: inf or NaN gradients raise found_inf and halve the scale", "[train][fp16]") {
  LossScaler s(cpu, 8.0, 2.0, 0.5, 2);
  std::vector<torch::Tensor> g{torch::tensor({1.0f}), torch::tensor({std::numeric_limits<float>::infinity()})};
  s.unscale(g);
  CHECK(s.found_inf().item<float>() == 1.0f);
  s.update();
  CHECK(s.current_scale() == 4.0);
  std::vector<torch::Tensor> h{torch::tensor({std::numeric_limits<float>::quiet_NaN()})};
  s.unscale(h);
  CHECK(s.found_inf().item<float>() == 1.0f);
  s.update();
  CHECK(s.current_scale() == 2.0);
  std::vector<torch::Tensor> k{torch::tensor({2.0f})};
  s.unscale(k);  // the flag is reset for every step
  CHECK(s.found_inf().item<float>() == 0.0f);
}

TEST_CASE("fused AdamW: the same updates as LibTorch's AdamW, and none at all when found_inf", "[train][fp16]") {
  torch::manual_seed(3);
  auto w0 = torch::randn({4, 3});
  auto b0 = torch::randn({3});
  auto ref_w = w0.clone().requires_grad_(true), ref_b = b0.clone().requires_grad_(true);
  auto fw = w0.clone().requires_grad_(true), fb = b0.clone().requires_grad_(true);
  torch::optim::AdamW ref({ref_w, ref_b}, torch::optim::AdamWOptions(1e-2).weight_decay(0.01));
  FusedAdamW fused({fw, fb}, 1e-2, 0.01);
  auto x = torch::randn({5, 4});
  auto loss_of = [&](const torch::Tensor& w, const torch::Tensor& b) { return (torch::matmul(x, w) + b).pow(2).sum(); };
  const auto no_inf = torch::zeros({1});
  const auto inf = torch::ones({1});
  for (int step = 0; step < 4; ++step) {
    ref.zero_grad();
    loss_of(ref_w, ref_b).backward();
    ref.step();
    // A skipped step before each real one must leave no trace: not in the weights, not in
    // the moments, not in the step count behind the bias correction.
    fused.zero_grad();
    loss_of(fw, fb).backward();
    const auto before = fw.detach().clone();
    fused.step(inf);
    CHECK(torch::equal(fw.detach(), before));
    fused.zero_grad();
    loss_of(fw, fb).backward();
    fused.step(no_inf);
    CHECK(torch::allclose(fw.detach(), ref_w.detach(), 1e-5, 1e-6));
    CHECK(torch::allclose(fb.detach(), ref_b.detach(), 1e-5, 1e-6));
  }
  CHECK_FALSE(torch::allclose(fw.detach(), w0));  // it did move
}

TEST_CASE("step outcome: a non-finite loss is fatal even when the update was skipped", "[train][fp16]") {
  using hmb::train::judge_step;
  using hmb::train::StepOutcome;
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  CHECK(judge_step(1.5, false) == StepOutcome::updated);
  CHECK(judge_step(1.5, true) == StepOutcome::skipped);  // overflowing gradients: loss scaling's business
  CHECK(judge_step(nan, true) == StepOutcome::non_finite_loss);  // the forward pass overflowed: no scale mends it
  CHECK(judge_step(inf, true) == StepOutcome::non_finite_loss);
  CHECK(judge_step(nan, false) == StepOutcome::non_finite_loss);
}

TEST_CASE("step outcome: the error names the step, and for fp16 the format's range and bf16", "[train][fp16]") {
  using hmb::train::non_finite_loss_error;
  using hmb::train::Precision;
  const auto half = non_finite_loss_error(7, Precision::fp16);
  CHECK_THAT(half, Catch::Contains("at step 7") && Catch::Contains("65504") && Catch::Contains("--precision bf16"));
  const auto full = non_finite_loss_error(3, Precision::fp32);
  CHECK_THAT(full, Catch::Contains("at step 3") && Catch::Contains("lower --lr"));
  CHECK_THAT(full, !Catch::Contains("65504"));
  CHECK_THAT(full, !Catch::Contains("--precision fp32"));  // it is fp32 already
  CHECK_THAT(non_finite_loss_error(0, Precision::bf16),
             Catch::Contains("on another rank") && Catch::Contains("use --precision fp32"));
}
