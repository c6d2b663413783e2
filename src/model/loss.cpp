#include "model/loss.hpp"

#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/loss.h>

#include "data/event_format.hpp"

namespace hmb::model {

namespace F = torch::nn::functional;

LossParts compute_loss(const Outputs& out, const torch::Tensor& ygen, const torch::Tensor& mask,
                       const StatsReducer& reduce) {
  const auto nc = out.logits.size(-1);
  auto logits = out.logits.to(torch::kFloat).reshape({-1, nc});        // (B*N, nc)
  auto cls = ygen.select(-1, data::ycol::cls).to(torch::kLong).reshape({-1});        // (B*N)
  auto real = mask.reshape({-1}).to(torch::kFloat);                    // (B*N)
  auto particle = (cls != 0).to(torch::kFloat) * real;                 // (B*N)
  auto target = ygen.narrow(-1, data::ycol::pt, data::ycol::num_momentum).reshape({-1, 5}).to(torch::kFloat);  // (B*N, 5)
  auto wgt = particle.unsqueeze(1);

  // The batch's counts and target sums; over all ranks when training data-parallel.
  auto n_real_sum = real.sum();
  auto n_part = particle.sum();
  auto target_sum = (target * wgt).sum(0);                             // (5)
  if (reduce) {
    auto stats = torch::cat({n_real_sum.reshape({1}), n_part.reshape({1}), target_sum});  // (7)
    reduce(stats);
    n_real_sum = stats[0];
    n_part = stats[1];
    target_sum = stats.narrow(0, 2, 5);
  }
  auto n_real = n_real_sum.clamp_min(1.0);

  // Focal loss, gamma 2, no class weights: -(1 - p_t)^2 log p_t.
  auto logp_t = F::log_softmax(logits, F::LogSoftmaxFuncOptions(-1)).gather(1, cls.unsqueeze(1)).squeeze(1);
  auto focal = -torch::pow(1 - logp_t.exp(), 2) * logp_t;              // (B*N)
  LossParts parts;
  parts.classification = 100.0 * (focal * real).sum() / n_real;

  // Huber (delta 1) on the five momentum targets of elements with a true particle, each target
  // scaled by its standard deviation over those elements in the (global) batch.
  auto pred = out.momentum.to(torch::kFloat).reshape({-1, 5});
  auto denom = n_part.clamp_min(1.0);
  auto mean = target_sum / denom;                                      // (5)
  auto centred = ((target - mean).pow(2) * wgt).sum(0);                // (5)
  if (reduce) reduce(centred);
  auto var = centred / (n_part - 1).clamp_min(1.0);
  auto std = var.sqrt().clamp_min(1e-6).detach();                      // (5)
  auto huber = F::huber_loss(pred / std, target / std,
                             F::HuberLossFuncOptions().reduction(torch::kNone).delta(1.0));  // (B*N, 5)
  parts.regression = 10.0 * (huber * wgt).sum() / denom;
  parts.total = parts.classification + parts.regression;
  return parts;
}

MetricCounts zero_counts(int num_classes, const torch::Device& device) {
  MetricCounts c;
  c.confusion = torch::zeros({num_classes, num_classes}, torch::TensorOptions(torch::kLong).device(device));
  c.loss_sums = torch::zeros({3}, torch::TensorOptions(torch::kDouble).device(device));
  c.n_real = torch::zeros({}, torch::TensorOptions(torch::kLong).device(device));
  return c;
}

void accumulate(MetricCounts& c, const Outputs& out, const LossParts& loss, const torch::Tensor& ygen,
                const torch::Tensor& mask) {
  const int64_t nc = c.confusion.size(0);
  auto m = mask.reshape({-1});
  auto truth = ygen.select(-1, data::ycol::cls).to(torch::kLong).reshape({-1}).masked_select(m);
  auto pred = out.logits.argmax(-1).reshape({-1}).masked_select(m);
  c.confusion += torch::bincount(truth * nc + pred, {}, nc * nc).view({nc, nc});
  auto n = m.sum();
  c.n_real += n;
  c.loss_sums += torch::stack({loss.total.detach(), loss.classification.detach(), loss.regression.detach()})
                     .to(torch::kDouble) * n.to(torch::kDouble);
}

}  // namespace hmb::model
