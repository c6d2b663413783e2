#include "model/init.hpp"

#include <torch/nn/modules/linear.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

namespace hmb::model {

namespace {
constexpr int64_t kBits = 24;
constexpr double kScale = 1.0 / static_cast<double>(int64_t{1} << kBits);  // 2^-24

torch::Tensor draw_integers(at::IntArrayRef shape) {
  // random_ with a range is integer arithmetic on the generator's output: the same everywhere.
  return torch::randint(0, int64_t{1} << kBits, shape, torch::TensorOptions().dtype(torch::kInt64));
}
}  // namespace

torch::Tensor portable_uniform(at::IntArrayRef shape, double lo, double hi) {
  auto u = draw_integers(shape).to(torch::kFloat64).mul_(kScale);  // exact: k * 2^-24
  // One multiply and one add, as separate double kernels (no fused multiply-add), each
  // correctly rounded by IEEE 754 whatever the vector width; then one rounding to float.
  return u.mul_(hi - lo).add_(lo).to(torch::kFloat32);
}

torch::Tensor portable_normal(at::IntArrayRef shape) {
  const auto k1 = draw_integers(shape).contiguous();
  const auto k2 = draw_integers(shape).contiguous();
  const int64_t n = k1.numel();
  std::vector<float> out(static_cast<size_t>(n));
  const auto* a = k1.data_ptr<int64_t>();
  const auto* b = k2.data_ptr<int64_t>();
  constexpr double two_pi = 6.283185307179586476925286766559;
  for (int64_t i = 0; i < n; ++i) {
    const double u1 = static_cast<double>(a[i] + 1) * kScale;  // (0, 1]: log never sees 0
    const double u2 = static_cast<double>(b[i]) * kScale;
    out[static_cast<size_t>(i)] = static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(two_pi * u2));
  }
  return torch::from_blob(out.data(), shape, torch::kFloat32).clone();
}

void reset_linear_layers(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (const auto& m : module.modules(/*include_self=*/false)) {
    auto* linear = m->as<torch::nn::Linear>();
    if (linear == nullptr) continue;
    const auto fan_in = linear->weight.size(1);
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    linear->weight.copy_(portable_uniform(linear->weight.sizes(), -bound, bound));
    if (linear->bias.defined()) linear->bias.copy_(portable_uniform(linear->bias.sizes(), -bound, bound));
  }
}

}  // namespace hmb::model
