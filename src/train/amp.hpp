#pragma once
// Reduced precision: autocast for bf16/fp16 on CUDA, and dynamic loss scaling for fp16 done
// entirely on the device with LibTorch's own AMP kernels, so a step never waits for the host
// to decide whether it may update the weights.
//
//   loss ×scale ─► backward ─► grads ÷scale, found_inf ─► AdamW (skipped on device when
//   found_inf) ─► scale halved after an overflow, doubled after `interval` clean steps
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "train/config.hpp"

namespace hmb::train {

// Autocast to bf16/fp16 for CUDA while it lives; nothing for fp32/tf32 or on the CPU.
class AutocastGuard {
 public:
  AutocastGuard(const torch::Device& device, Precision precision);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_ = false;
};

class LossScaler {
 public:
  LossScaler(const torch::Device& device, double init_scale = 65536.0, double growth = 2.0, double backoff = 0.5,
             int interval = 2000);

  torch::Tensor scale(const torch::Tensor& loss) const { return loss * scale_; }
  // Divides `grads` by the scale in place and sets found_inf() to 1 when any of them holds an
  // inf or a NaN (0 otherwise).
  void unscale(const std::vector<torch::Tensor>& grads);
  // The overflow flag of the last unscale(): a float tensor of one element on the device. The
  // caller may reduce it over ranks (max) before step() and update() read it.
  torch::Tensor& found_inf() { return found_inf_; }
  // After the optimiser step: halve the scale after an overflow, else count towards growth.
  void update();

  // Reads from the device (a synchronisation): for reports and tests, not for every step.
  double current_scale() const;

 private:
  torch::Tensor scale_, growth_tracker_, found_inf_;
  double growth_, backoff_;
  int interval_;
};

// What one step's read-back says. Loss scaling acts on the gradients only: an overflow there
// skips the update and lowers the scale. A loss that is itself NaN or inf means the forward pass
// overflowed, which no scale can mend, so it is fatal in every precision.
enum class StepOutcome { updated, skipped, non_finite_loss };
StepOutcome judge_step(double loss, bool gradients_overflowed);

// The error of a run stopped by a non-finite loss at `step` (0 when another rank saw it).
std::string non_finite_loss_error(std::int64_t step, Precision precision);

// AdamW (decoupled weight decay, as torch.optim.AdamW) through LibTorch's fused kernel, whose
// step is skipped on the device when `found_inf` is 1.
class FusedAdamW {
 public:
  FusedAdamW(std::vector<torch::Tensor> params, double lr, double weight_decay, double beta1 = 0.9,
             double beta2 = 0.999, double eps = 1e-8);
  void zero_grad();
  // One update from the parameters' gradients; none at all (moments and step count included)
  // when found_inf holds 1.
  void step(const torch::Tensor& found_inf);

 private:
  std::vector<torch::Tensor> params_, exp_avg_, exp_avg_sq_, steps_;
  double lr_, weight_decay_, beta1_, beta2_, eps_;
};

}  // namespace hmb::train
