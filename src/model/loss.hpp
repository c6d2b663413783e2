#pragma once
// The MLPF loss (focal classification + Huber regression) and the validation metrics.
#include <torch/types.h>

#include <functional>

#include "model/mlpf.hpp"

namespace hmb::model {

struct LossParts {
  torch::Tensor total;           // scalar: classification + regression
  torch::Tensor classification;  // scalar: 100 x focal(gamma 2) summed over real elements / n_real
  torch::Tensor regression;      // scalar: 10 x Huber(delta 1) over 5 targets / n_particles
};

// Sums a small tensor of batch statistics over every rank of a data-parallel step, in place.
using StatsReducer = std::function<void(torch::Tensor&)>;

// out: model outputs; ygen: (B, N, 7) [class, charge, pT, eta, sin phi, cos phi, E];
// mask: (B, N) bool, true for real elements.
//
// With `reduce` (data-parallel training), the normalisations are those of the global batch: the
// element and particle counts and the regression targets' mean and standard deviation are
// summed over the ranks first, so each rank's loss is its share of the global batch's loss and
// the sum over ranks of their gradients is the gradient of the global loss (docs/training.md).
// Without it, the batch is the whole step.
LossParts compute_loss(const Outputs& out, const torch::Tensor& ygen, const torch::Tensor& mask,
                       const StatsReducer& reduce = {});

// Counts for accuracy, kept on the device and summed over batches; read once at the end.
struct MetricCounts {
  torch::Tensor confusion;   // (nc, nc) int64: [true][predicted], real elements only
  torch::Tensor loss_sums;   // (3,) f64: total, classification, regression, each x n_real
  torch::Tensor n_real;      // () int64
};

MetricCounts zero_counts(int num_classes, const torch::Device& device);
void accumulate(MetricCounts& c, const Outputs& out, const LossParts& loss, const torch::Tensor& ygen,
                const torch::Tensor& mask);

}  // namespace hmb::model
