#pragma once
// MLPF gnn_lsh in LibTorch, as docs/model.md specifies. Shapes: B events, N elements (padded
// to the longest event of the batch), w = width, d = distance_dim, bs = bin_size.
// Parameter names follow the Python MLPF's state_dict so that its weights load here.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/normalization.h>

#include "model/model_config.hpp"

namespace hmb::model {

// out[b, j, :] = x[b, order[b, j], :] for a permutation `order` (B, Np) of each row's Np
// elements, `inverse` its inverse. The same values as x.gather(1, order expanded); its backward
// is a gather by `inverse` (an element appears exactly once in the output, so nothing is summed),
// where gather's own backward is a scatter-add that LibTorch runs on CUDA as a sort-based
// index_put that took 36-50% of an H200's GPU time per step (docs/performance.md). The
// gradients are the same values (the scatter-add added each to a zero; only a -0 now stays -0).
torch::Tensor permute_rows(const torch::Tensor& x, const torch::Tensor& order, const torch::Tensor& inverse);

struct Outputs {
  torch::Tensor logits;    // (B, N, num_classes)
  torch::Tensor momentum;  // (B, N, 5): pT, eta, sin phi, cos phi, E
};

// One gated graph convolution inside the bins (no degree normalisation).
class GHConvDenseImpl : public torch::nn::Module {
 public:
  explicit GHConvDenseImpl(int width);
  // x: (B, nb, bs, w), adj: (B, nb, bs, bs), m: (B, nb, bs, 1) float -> (B, nb, bs, w)
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& adj, const torch::Tensor& m);
  torch::Tensor W_t, b_t, W_h, theta;  // (w, w), (w), (w, w), (w, w): (in, out)
};
TORCH_MODULE(GHConvDense);

// Holds the frozen LSH codebook (d, max_num_bins/2); a buffer, never trained.
class MessageBuildingLayerLSHImpl : public torch::nn::Module {
 public:
  MessageBuildingLayerLSHImpl(int distance_dim, int max_num_bins);
  torch::Tensor codebook_random_rotations;
};
TORCH_MODULE(MessageBuildingLayerLSH);

class CombinedGraphLayerImpl : public torch::nn::Module {
 public:
  explicit CombinedGraphLayerImpl(const ModelConfig& cfg);
  // x: (B, N, w), mask: (B, N) bool -> (B, N, w)
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask);

 private:
  ModelConfig cfg_;
  torch::nn::LayerNorm layernorm1{nullptr};
  torch::nn::Sequential ffn_dist{nullptr};
  MessageBuildingLayerLSH message_building_layer{nullptr};
  torch::nn::ModuleList message_passing_layers{nullptr};
};
TORCH_MODULE(CombinedGraphLayer);

// A momentum head: `nn` gives (a, b) and the prediction is X[..., k] * a + b.
class RegressionHeadImpl : public torch::nn::Module {
 public:
  RegressionHeadImpl(int in, int width, double dropout);
  torch::nn::Sequential nn{nullptr};
};
TORCH_MODULE(RegressionHead);

class MLPFImpl : public torch::nn::Module {
 public:
  explicit MLPFImpl(const ModelConfig& cfg);
  // x: (B, N, 12) zero-padded; mask = x[..., 0] != 0 (B, N) bool
  Outputs forward(const torch::Tensor& x, const torch::Tensor& mask);
  const ModelConfig& config() const { return cfg_; }
  // Trainable parameters (the codebooks are buffers and not counted).
  std::int64_t num_parameters() const;

 private:
  ModelConfig cfg_;
  torch::nn::Sequential nn0_id{nullptr}, nn0_reg{nullptr}, nn_id{nullptr};
  torch::nn::ModuleList conv_id{nullptr}, conv_reg{nullptr};
  RegressionHead nn_pt{nullptr}, nn_eta{nullptr}, nn_sin_phi{nullptr}, nn_cos_phi{nullptr},
      nn_energy{nullptr};
};
TORCH_MODULE(MLPF);

// ffn(in, out, width): Linear -> ELU -> LayerNorm -> Dropout -> Linear (indices 0..4).
torch::nn::Sequential make_ffn(int in, int out, int width, double dropout);

}  // namespace hmb::model
