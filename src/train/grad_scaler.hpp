#pragma once
// Dynamic loss scaling for fp16 training: the loss is multiplied by `scale` before backward so
// small gradients survive in half precision; gradients are divided by it before the optimiser
// step. A step whose gradients hold inf/NaN is skipped and the scale halved; after `interval`
// good steps in a row the scale doubles.
#include <torch/types.h>

#include <vector>

namespace hmb::train {

class GradScaler {
 public:
  explicit GradScaler(bool enabled, double init_scale = 65536.0, int interval = 2000)
      : enabled_(enabled), scale_(init_scale), interval_(interval) {}

  torch::Tensor scale(const torch::Tensor& loss) const { return enabled_ ? loss * scale_ : loss; }
  // Unscales the gradients in place; returns false (skip the step) when any is not finite.
  bool unscale_and_check(const std::vector<torch::Tensor>& params);
  double current_scale() const { return scale_; }
  bool enabled() const { return enabled_; }
  long skipped_steps() const { return skipped_; }

 private:
  bool enabled_;
  double scale_;
  int interval_;
  int good_ = 0;
  long skipped_ = 0;
};

}  // namespace hmb::train
