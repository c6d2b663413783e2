#include "train/grad_scaler.hpp"

#include <torch/torch.h>

namespace hmb::train {

bool GradScaler::unscale_and_check(const std::vector<torch::Tensor>& params) {
  if (!enabled_) return true;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return true;
  bool finite = true;
  {
    // One host sync per step: the finiteness of all gradients at once.
    std::vector<torch::Tensor> flags;
    for (auto& g : grads) flags.push_back(torch::isfinite(g).all());
    finite = torch::stack(flags).all().item<bool>();
  }
  if (!finite) {
    scale_ /= 2.0;
    good_ = 0;
    ++skipped_;
    return false;
  }
  for (auto& g : grads) g.div_(scale_);
  if (++good_ >= interval_) {
    scale_ *= 2.0;
    good_ = 0;
  }
  return true;
}

}  // namespace hmb::train
