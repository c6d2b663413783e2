#include "train/amp.hpp"

#include <ATen/autocast_mode.h>
#include <ATen/ops/_amp_foreach_non_finite_check_and_unscale.h>
#include <ATen/ops/_amp_update_scale.h>
#include <ATen/ops/_foreach_add.h>
#include <ATen/ops/_fused_adamw.h>
#include <torch/torch.h>

#include <cmath>

namespace hmb::train {

AutocastGuard::AutocastGuard(const torch::Device& device, Precision precision) {
  if (!device.is_cuda() || (precision != Precision::bf16 && precision != Precision::fp16)) return;
  active_ = true;
  at::autocast::set_autocast_enabled(at::kCUDA, true);
  at::autocast::set_autocast_dtype(at::kCUDA, precision == Precision::bf16 ? at::kBFloat16 : at::kHalf);
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  at::autocast::set_autocast_enabled(at::kCUDA, false);
  at::autocast::clear_cache();
}

LossScaler::LossScaler(const torch::Device& device, double init_scale, double growth, double backoff, int interval)
    : growth_(growth), backoff_(backoff), interval_(interval) {
  const auto f = torch::TensorOptions(torch::kFloat).device(device);
  scale_ = torch::full({1}, init_scale, f);
  found_inf_ = torch::zeros({1}, f);
  growth_tracker_ = torch::zeros({1}, torch::TensorOptions(torch::kInt).device(device));
}

void LossScaler::unscale(const std::vector<torch::Tensor>& grads) {
  torch::NoGradGuard no_grad;
  found_inf_.zero_();
  if (grads.empty()) return;
  const auto inv_scale = scale_.reciprocal();
  at::_amp_foreach_non_finite_check_and_unscale_(grads, found_inf_, inv_scale);
}

void LossScaler::update() {
  torch::NoGradGuard no_grad;
  at::_amp_update_scale_(scale_, growth_tracker_, found_inf_, growth_, backoff_, interval_);
}

double LossScaler::current_scale() const { return scale_.item<double>(); }

StepOutcome judge_step(double loss, bool gradients_overflowed) {
  if (!std::isfinite(loss)) return StepOutcome::non_finite_loss;
  return gradients_overflowed ? StepOutcome::skipped : StepOutcome::updated;
}

std::string non_finite_loss_error(std::int64_t step, Precision precision) {
  std::string where = step > 0 ? "at step " + std::to_string(step) : "on another rank";
  if (precision == Precision::fp16)
    return "training loss is not finite (NaN or inf) " + where +
           " with --precision fp16: the forward pass overflowed fp16's range (largest value 65504; the graph "
           "layers sum over up to a bin's elements without degree normalisation, docs/model.md), which loss "
           "scaling cannot mend: use --precision bf16 (fp32's range) or fp32";
  return "training loss is not finite (NaN or inf) " + where + ": lower --lr" +
         (precision == Precision::fp32 ? "" : ", use --precision fp32") + ", or check the event file";
}

FusedAdamW::FusedAdamW(std::vector<torch::Tensor> params, double lr, double weight_decay, double beta1, double beta2,
                       double eps)
    : params_(std::move(params)), lr_(lr), weight_decay_(weight_decay), beta1_(beta1), beta2_(beta2), eps_(eps) {
  torch::NoGradGuard no_grad;
  for (const auto& p : params_) {
    exp_avg_.push_back(torch::zeros_like(p));
    exp_avg_sq_.push_back(torch::zeros_like(p));
    steps_.push_back(torch::zeros({}, torch::TensorOptions(torch::kFloat).device(p.device())));
  }
}

void FusedAdamW::zero_grad() {
  for (auto& p : params_)
    if (p.grad().defined()) p.mutable_grad().reset();
}

void FusedAdamW::step(const torch::Tensor& found_inf) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> params, grads, m, v, steps;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].grad().defined()) continue;
    params.push_back(params_[i]);
    grads.push_back(params_[i].grad());
    m.push_back(exp_avg_[i]);
    v.push_back(exp_avg_sq_[i]);
    steps.push_back(steps_[i]);
  }
  if (params.empty()) return;
  // The kernel reads the step count after it is advanced; a skipped step takes it back, so the
  // count (and with it the bias correction) only moves with real updates.
  at::_foreach_add_(steps, 1.0);
  at::_fused_adamw_(params, grads, m, v, /*max_exp_avg_sqs=*/{}, steps, lr_, beta1_, beta2_, weight_decay_, eps_,
                    /*amsgrad=*/false, /*maximize=*/false, /*grad_scale=*/std::nullopt, found_inf);
  at::_foreach_add_(steps, found_inf.reshape({}), -1.0);
}

}  // namespace hmb::train
