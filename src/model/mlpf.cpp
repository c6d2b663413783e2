#include "model/mlpf.hpp"

#include <torch/csrc/autograd/custom_function.h>
#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/padding.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>

#include <cmath>

#include "data/event_format.hpp"
#include "model/init.hpp"
#include "util/error.hpp"

namespace hmb::model {

namespace F = torch::nn::functional;

torch::nn::Sequential make_ffn(int in, int out, int width, double dropout) {
  return torch::nn::Sequential(torch::nn::Linear(in, width), torch::nn::ELU(),
                               torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})),
                               torch::nn::Dropout(dropout), torch::nn::Linear(width, out));
}

// ---------------------------------------------------------------- GHConvDense
GHConvDenseImpl::GHConvDenseImpl(int width) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(width));
  auto uniform = [&](std::vector<int64_t> shape) { return portable_uniform(shape, -bound, bound); };
  W_t = register_parameter("W_t", uniform({width, width}));
  b_t = register_parameter("b_t", torch::zeros({width}));
  W_h = register_parameter("W_h", uniform({width, width}));
  theta = register_parameter("theta", uniform({width, width}));
}

torch::Tensor GHConvDenseImpl::forward(const torch::Tensor& x, const torch::Tensor& adj, const torch::Tensor& m) {
  // The definition is f_hom = adj @ (((x*m) @ theta) * m) and f_het = (x*m) @ W_h. Both masks
  // are left out because they cannot change the value: adj is already zero on masked columns
  // (so masked rows of x @ theta enter every sum as exact zeros), and the output is multiplied
  // by m (so masked rows of f_het never leave). Masked rows of x are finite and small (the
  // LayerNorm of padding, or the zeros of an earlier masked output), so leaving the masks out
  // adds no overflow in reduced precision (real rows do outgrow fp16: docs/model.md). That
  // saves two passes over (B, nb, bs, w), forward and backward; the reference test compares
  // with the literal formulas.
  auto f_hom = torch::matmul(adj, torch::matmul(x, theta));  // (B, nb, bs, w)
  auto f_het = torch::matmul(x, W_h);                         // (B, nb, bs, w)
  // Under autocast the products are bf16/fp16 and the float bias promotes the gate to float;
  // lerp takes one dtype, so the gate follows the products (a no-op in fp32).
  auto gate = torch::sigmoid(torch::matmul(x, W_t) + b_t).to(f_het.scalar_type());
  // gate * f_hom + (1 - gate) * f_het as one fused pass (lerp from f_het towards f_hom).
  return F::elu(torch::lerp(f_het, f_hom, gate)) * m;
}

// ---------------------------------------------------------------- binning permutation
namespace {
// t[b, index[b, j], :] for every j: the rows of each (Np, c) slice in `index` order.
torch::Tensor take_rows(const torch::Tensor& t, const torch::Tensor& index) {
  return t.gather(1, index.unsqueeze(-1).expand_as(t));
}

struct PermuteRows : torch::autograd::Function<PermuteRows> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& order, const torch::Tensor& inverse) {
    ctx->save_for_backward({inverse});
    return take_rows(x, order);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    return {take_rows(grads[0], ctx->get_saved_variables()[0]), torch::Tensor(), torch::Tensor()};
  }
};
}  // namespace

torch::Tensor permute_rows(const torch::Tensor& x, const torch::Tensor& order, const torch::Tensor& inverse) {
  return PermuteRows::apply(x, order, inverse);
}

// ---------------------------------------------------------------- LSH codebook
MessageBuildingLayerLSHImpl::MessageBuildingLayerLSHImpl(int distance_dim, int max_num_bins) {
  codebook_random_rotations =
      register_buffer("codebook_random_rotations", portable_normal({distance_dim, max_num_bins / 2}));
}

// ---------------------------------------------------------------- CombinedGraphLayer
CombinedGraphLayerImpl::CombinedGraphLayerImpl(const ModelConfig& cfg) : cfg_(cfg) {
  layernorm1 = register_module(
      "layernorm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({cfg.width}).eps(1e-6)));
  const int h = cfg.ffn_dist_hidden_dim;
  ffn_dist = register_module(
      "ffn_dist", torch::nn::Sequential(torch::nn::Linear(cfg.width, h), torch::nn::ELU(),
                                        torch::nn::Linear(h, h), torch::nn::ELU(),
                                        torch::nn::Linear(h, cfg.distance_dim)));
  message_building_layer =
      register_module("message_building_layer", MessageBuildingLayerLSH(cfg.distance_dim, cfg.max_num_bins));
  message_passing_layers = register_module("message_passing_layers", torch::nn::ModuleList());
  for (int j = 0; j < cfg.num_node_messages; ++j) message_passing_layers->push_back(GHConvDense(cfg.width));
}

torch::Tensor CombinedGraphLayerImpl::forward(const torch::Tensor& x_in, const torch::Tensor& mask_in) {
  const int64_t B = x_in.size(0), N = x_in.size(1), w = x_in.size(2);
  const int64_t bs = cfg_.bin_size;
  require(N <= max_elements_per_event(cfg_),
          "model " + cfg_.name + ": a batch with events of " + std::to_string(N) + " elements, more than the " +
              std::to_string(max_elements_per_event(cfg_)) + " it can bin");
  const int64_t Np = (N + bs - 1) / bs * bs;
  const int64_t nb = Np / bs;
  // 1. Pad N up to a multiple of the bin size. The pad rows get mask = false, so they take
  //    part in no message. (The original gnn_lsh padded the mask with true, letting the pad
  //    rows act as real elements; hep-mlbench keeps them out.)
  auto x = F::pad(x_in, F::PadFuncOptions({0, 0, 0, Np - N}));        // (B, Np, w)
  auto mask = F::pad(mask_in, F::PadFuncOptions({0, Np - N}).value(0));  // (B, Np) bool

  // 2. Normalise, then the distance features.
  x = layernorm1(x);
  auto d = F::elu(ffn_dist->forward(x));                               // (B, Np, d)

  // 3. LSH binning with the frozen codebook; padded/masked elements go to the last bins.
  const int64_t k = std::max<int64_t>(1, nb / 2);
  auto mul = torch::matmul(d, message_building_layer->codebook_random_rotations.narrow(1, 0, k));  // (B, Np, k)
  auto bins = torch::cat({mul, -mul}, -1).argmax(-1) + (nb - 1) * mask.logical_not().to(torch::kLong);  // (B, Np)
  // A stable sort: equal bins keep element order, so the grouping is deterministic.
  auto order = std::get<1>(torch::sort(bins, /*stable=*/true, /*dim=*/-1, /*descending=*/false));  // (B, Np)
  auto inverse = std::get<1>(torch::sort(order, /*stable=*/true, /*dim=*/-1, /*descending=*/false));  // (B, Np)

  // 4. Gather into (B, nb, bs, .) and build the Gaussian-kernel adjacency per bin.
  auto gather = [&](const torch::Tensor& t) {
    return permute_rows(t, order, inverse).view({B, nb, bs, t.size(2)});
  };
  auto xb = gather(x);                                                  // (B, nb, bs, w)
  auto db = gather(d);                                                  // (B, nb, bs, d)
  auto mb = gather(mask.unsqueeze(-1).to(x.scalar_type()));             // (B, nb, bs, 1)
  // The squared distances in float whatever the precision (no-ops in fp32): in fp16 the
  // bound 1e6 does not exist and sq - 2 dot + sq cancels what little the format holds.
  const auto dbf = db.to(torch::kFloat);
  auto sq = (dbf * dbf).sum(-1);                                        // (B, nb, bs)
  auto dot = torch::matmul(db, db.transpose(-1, -2)).to(torch::kFloat); // (B, nb, bs, bs)
  auto l2 = torch::sqrt(torch::clamp(sq.unsqueeze(-1) - 2 * dot + sq.unsqueeze(-2), 1e-6, 1e6));
  // adj = clip(exp(-0.1 L2), 0, 1): with L2 >= 1e-3 the exponential is already inside (0, 1),
  // so the clip is left out (one pass less, and its backward).
  auto adj = torch::exp(-0.1 * l2) * (mb * mb.transpose(-1, -2));      // (B, nb, bs, bs)

  // 5. The graph convolutions inside the bins.
  for (const auto& layer : *message_passing_layers) {
    xb = layer->as<GHConvDense>()->forward(xb, adj, mb);
  }

  // 6. Back to the original element order (the inverse permutation), padding dropped.
  auto out = permute_rows(xb.reshape({B, Np, w}), inverse, order);
  return out.narrow(1, 0, N);                                           // (B, N, w)
}

// ---------------------------------------------------------------- heads and model
RegressionHeadImpl::RegressionHeadImpl(int in, int width, double dropout) {
  nn = register_module("nn", make_ffn(in, 2, width, dropout));
}

MLPFImpl::MLPFImpl(const ModelConfig& cfg) : cfg_(cfg) {
  const int w = cfg.width, in = cfg.input_dim, nc = cfg.num_classes;
  nn0_id = register_module("nn0_id", make_ffn(in, w, w, cfg.dropout));
  nn0_reg = register_module("nn0_reg", make_ffn(in, w, w, cfg.dropout));
  conv_id = register_module("conv_id", torch::nn::ModuleList());
  conv_reg = register_module("conv_reg", torch::nn::ModuleList());
  for (int i = 0; i < cfg.num_convs; ++i) {
    conv_id->push_back(CombinedGraphLayer(cfg));
    conv_reg->push_back(CombinedGraphLayer(cfg));
  }
  nn_id = register_module("nn_id", make_ffn(in + w, nc, w, cfg.dropout));
  const int reg_in = in + w + nc;
  nn_pt = register_module("nn_pt", RegressionHead(reg_in, w, cfg.dropout));
  nn_eta = register_module("nn_eta", RegressionHead(reg_in, w, cfg.dropout));
  nn_sin_phi = register_module("nn_sin_phi", RegressionHead(reg_in, w, cfg.dropout));
  nn_cos_phi = register_module("nn_cos_phi", RegressionHead(reg_in, w, cfg.dropout));
  nn_energy = register_module("nn_energy", RegressionHead(reg_in, w, cfg.dropout));
  // The Linear layers drew their weights with LibTorch's uniform_, whose last bits depend on
  // the CPU's vector width: drawn again, the same on every machine (model/init.hpp).
  reset_linear_layers(*this);
}

Outputs MLPFImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  // Two independent stacks; chained graph layers, the last output is the representation.
  auto h_id = nn0_id->forward(x);                                       // (B, N, w)
  for (const auto& layer : *conv_id) h_id = layer->as<CombinedGraphLayer>()->forward(h_id, mask);
  auto h_reg = nn0_reg->forward(x);                                     // (B, N, w)
  for (const auto& layer : *conv_reg) h_reg = layer->as<CombinedGraphLayer>()->forward(h_reg, mask);

  Outputs out;
  out.logits = nn_id->forward(torch::cat({x, h_id}, -1));               // (B, N, nc)
  auto reg_in = torch::cat({x, h_reg, out.logits}, -1);                 // (B, N, 12 + w + nc)
  // Target k is predicted as X[..., k] * a + b from the matching input column (pt .. energy).
  std::vector<torch::Tensor> preds;
  int column = data::xcol::first_kinematic;
  for (auto* head : {&nn_pt, &nn_eta, &nn_sin_phi, &nn_cos_phi, &nn_energy}) {
    auto ab = (*head)->nn->forward(reg_in);                             // (B, N, 2)
    preds.push_back(x.select(-1, column) * ab.select(-1, 0) + ab.select(-1, 1));
    ++column;
  }
  out.momentum = torch::stack(preds, -1);                               // (B, N, 5)
  return out;
}

std::int64_t MLPFImpl::num_parameters() const {
  std::int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

}  // namespace hmb::model
