#include "train/reference_step.hpp"

#include <ATen/Context.h>
#include <torch/torch.h>

#include <cmath>

#include "model/loss.hpp"
#include "util/error.hpp"

namespace hmb::train {

namespace {
// TF32 off for the probe (restored after): it checks float32 arithmetic on every device.
struct Float32Only {
  bool cublas = at::globalContext().allowTF32CuBLAS();
  bool cudnn = at::globalContext().allowTF32CuDNN();
  Float32Only() {
    at::globalContext().setAllowTF32CuBLAS(false);
    at::globalContext().setAllowTF32CuDNN(false);
  }
  ~Float32Only() {
    at::globalContext().setAllowTF32CuBLAS(cublas);
    at::globalContext().setAllowTF32CuDNN(cudnn);
  }
  Float32Only(const Float32Only&) = delete;
  Float32Only& operator=(const Float32Only&) = delete;
};
}  // namespace

nlohmann::json reference_step(model::MLPF& net, const data::Batch& batch, const torch::Device& device,
                              const ReferenceStepConfig& cfg) {
  require(cfg.steps >= 0 && cfg.step_size > 0, "reference step: steps must be >= 0 and the step size positive");
  Float32Only fp32;
  const bool was_training = net->is_training();
  net->eval();
  auto params = net->parameters();
  std::vector<torch::Tensor> saved;
  double w_norm_sq = 0;
  {
    torch::NoGradGuard no_grad;
    for (const auto& p : params) {
      saved.push_back(p.detach().clone());
      w_norm_sq += p.detach().to(torch::kDouble).pow(2).sum().item<double>();
    }
  }
  const double step_length = cfg.step_size * std::sqrt(w_norm_sq);
  auto x = batch.x.to(device);
  auto y = batch.ygen.to(device);
  auto m = batch.mask.to(device);

  nlohmann::json losses = nlohmann::json::array(), grad_norms = nlohmann::json::array();
  try {
    for (int k = 0; k <= cfg.steps; ++k) {
      if (cfg.stop && cfg.stop()) break;  // a forward and backward pass can take a minute on a slow CPU
      for (auto& p : params) p.mutable_grad() = torch::Tensor();
      const bool last = k == cfg.steps;
      auto out = net->forward(x, m);
      auto loss = model::compute_loss(out, y, m).total;
      losses.push_back(loss.detach().to(torch::kCPU, torch::kDouble).item<double>());
      if (last) break;
      loss.backward();
      double g_norm_sq = 0;
      for (const auto& p : params)
        if (p.grad().defined()) g_norm_sq += p.grad().to(torch::kDouble).pow(2).sum().item<double>();
      const double g_norm = std::sqrt(g_norm_sq);
      grad_norms.push_back(g_norm);
      if (!(g_norm > 0) || !std::isfinite(g_norm)) break;  // nothing to follow; the losses say so
      torch::NoGradGuard no_grad;
      for (auto& p : params)
        if (p.grad().defined()) p.add_(p.grad(), -step_length / g_norm);
    }
  } catch (...) {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < params.size(); ++i) params[i].copy_(saved[i]);
    throw;
  }
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < params.size(); ++i) {
      params[i].copy_(saved[i]);
      params[i].mutable_grad() = torch::Tensor();
    }
  }
  net->train(was_training);
  return {{"losses", losses},
          {"grad_norms", grad_norms},
          {"steps", cfg.steps},
          {"step_size", cfg.step_size},
          {"events", static_cast<std::int64_t>(batch.event_ids.size())}};
}

}  // namespace hmb::train
