// The reference check: hep-mlbench's C++ MLPF against an independent PyTorch computation
// (tests/reference/mlpf_reference.py, float64) for the same weights and inputs: logits,
// momentum, loss parts and every parameter's gradient.
#include <catch2/catch.hpp>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "model/loss.hpp"
#include "model/mlpf.hpp"
#include "model/weights_io.hpp"
#include "support/temp_folder.hpp"

namespace {
using TensorMap = std::map<std::string, torch::Tensor>;

// The fixture lives in a folder of this test process (CTest runs test cases as parallel
// processes), removed when the process ends.
std::string fixture_path() {
  static const hmb::testing::TempFolder folder("mlpf-reference");
  return (folder.path / "fixture.pt").string();
}

TensorMap load_fixture() {
  static TensorMap cache;
  if (!cache.empty()) return cache;
  const auto path = fixture_path();
  const std::string cmd = std::string(HMB_TEST_PYTHON) + " " + HMB_SOURCE_DIR +
                          "/tests/reference/mlpf_reference.py " + path + " > /dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto dict = torch::pickle_load(bytes).toGenericDict();
  for (const auto& kv : dict) cache[kv.key().toStringRef()] = kv.value().toTensor();
  return cache;
}

hmb::model::ModelConfig config_of(const TensorMap& f) {
  auto c = f.at("config");
  hmb::model::ModelConfig cfg;
  cfg.width = c[0].item<int>();
  cfg.num_convs = c[1].item<int>();
  cfg.bin_size = c[2].item<int>();
  cfg.max_num_bins = c[3].item<int>();
  cfg.distance_dim = c[4].item<int>();
  cfg.ffn_dist_hidden_dim = c[5].item<int>();
  cfg.num_node_messages = c[6].item<int>();
  return cfg;
}

// Largest |a - b| / (atol + rtol |b|): <= 1 passes.
double scaled_diff(const torch::Tensor& a, const torch::Tensor& b, double atol, double rtol) {
  REQUIRE(a.sizes() == b.sizes());
  return ((a.to(torch::kDouble) - b.to(torch::kDouble)).abs() / (atol + rtol * b.to(torch::kDouble).abs()))
      .max()
      .item<double>();
}

struct Comparison {
  double worst = 0;
  std::string worst_name;
  void add(const std::string& name, double d) {
    if (d > worst) {
      worst = d;
      worst_name = name;
    }
  }
};

Comparison run_and_compare(const TensorMap& f, const std::string& perturb = "") {
  torch::manual_seed(0);
  hmb::model::MLPF model(config_of(f));
  {
    torch::NoGradGuard ng;
    for (auto& [name, t] : hmb::model::state_dict(*model)) {
      t.copy_(f.at("weight." + name));
      if (name == perturb) t.view(-1)[0] += 0.1;  // one weight, one element
    }
  }
  auto x = f.at("X");
  auto ygen = f.at("ygen");
  auto mask = x.select(-1, 0) != 0;
  auto out = model->forward(x, mask);
  auto loss = hmb::model::compute_loss(out, ygen, mask);
  loss.total.backward();

  Comparison c;
  c.add("logits", scaled_diff(out.logits, f.at("logits"), 1e-4, 1e-3));
  c.add("momentum", scaled_diff(out.momentum, f.at("momentum"), 1e-4, 1e-3));
  auto parts = torch::stack({loss.total, loss.classification, loss.regression}).detach();
  c.add("loss", scaled_diff(parts, f.at("loss"), 1e-4, 1e-4));
  for (const auto& p : model->named_parameters()) {
    // Gradients are sums over many elements: scale the tolerance with the tensor's size.
    const auto& g = f.at("grad." + p.key());
    const double atol = 1e-4 * (1.0 + g.abs().max().item<double>());
    c.add("grad." + p.key(), scaled_diff(p.value().grad(), g, atol, 2e-3));
  }
  return c;
}
}  // namespace

TEST_CASE("reference: outputs, loss parts and all gradients match PyTorch", "[model][reference]") {
  auto f = load_fixture();
  auto c = run_and_compare(f);
  INFO("largest scaled difference " << c.worst << " in " << c.worst_name);
  std::printf("reference: largest scaled difference %.3g (in %s; 1 = tolerance)\n", c.worst, c.worst_name.c_str());
  CHECK(c.worst <= 1.0);
}

TEST_CASE("reference: the check fails when one weight is perturbed", "[model][reference]") {
  auto f = load_fixture();
  for (const char* name : {"conv_reg.0.message_passing_layers.1.W_h", "nn0_id.0.weight", "nn_energy.nn.4.bias"}) {
    auto c = run_and_compare(f, name);
    INFO(name << ": largest scaled difference " << c.worst << " in " << c.worst_name);
    CHECK(c.worst > 1.0);
  }
}

#include "model/cost_model.hpp"
#include "model/model_config.hpp"

TEST_CASE("cost model: within 2% of PyTorch's count of the matrix products of one forward pass",
          "[model][cost][reference]") {
  for (const char* name : {"tiny", "small"}) {
    const auto cfg = hmb::model::preset(name);
    const std::string cmd = std::string(HMB_TEST_PYTHON) + " " + HMB_SOURCE_DIR +
                            "/tests/reference/mlpf_reference.py --flops --width " + std::to_string(cfg.width) +
                            " --convs " + std::to_string(cfg.num_convs) + " --bin-size " + std::to_string(cfg.bin_size) +
                            " --max-bins " + std::to_string(cfg.max_num_bins) + " --distance-dim " +
                            std::to_string(cfg.distance_dim) + " --hidden " + std::to_string(cfg.ffn_dist_hidden_dim) +
                            " --messages " + std::to_string(cfg.num_node_messages);
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    double counted = 0;
    REQUIRE(std::fscanf(p, "flops_per_element %lf", &counted) == 1);
    pclose(p);
    const double modelled = hmb::model::cost_per_element(cfg).forward_per_element;
    INFO(name << ": cost model " << modelled << " FLOP/element, counted " << counted);
    std::printf("cost model %s: %.6g FLOP per element, PyTorch count %.6g (%.3f%%)\n", name, modelled, counted,
                100.0 * (modelled - counted) / counted);
    CHECK(std::fabs(modelled - counted) <= 0.02 * counted);
  }
}

namespace {
struct AdamwOutcome {
  double relative = 0;             // |update here - update there| / |update there|, all weights
  std::int64_t off = 0, total = 0; // weights more than 0.1 lr away
  std::vector<double> losses;      // before each step
};

// `steps` AdamW steps of the C++ model from the fixture's weights on its batch, compared with
// the reference's weights after them. `lr_factor` and `weight_decay` let a test break it.
AdamwOutcome adamw_against_reference(const TensorMap& f, double lr_factor, double weight_decay) {
  const double lr = f.at("adamw")[0].item<double>();
  const auto steps = f.at("adamw")[1].item<int>();
  torch::manual_seed(0);
  hmb::model::MLPF model(config_of(f));
  {
    torch::NoGradGuard ng;
    for (auto& [name, t] : hmb::model::state_dict(*model)) t.copy_(f.at("weight." + name));
  }
  torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(lr * lr_factor).weight_decay(weight_decay));
  auto x = f.at("X");
  auto ygen = f.at("ygen");
  auto mask = x.select(-1, 0) != 0;
  AdamwOutcome out;
  for (int k = 0; k < steps; ++k) {
    opt.zero_grad();
    auto loss = hmb::model::compute_loss(model->forward(x, mask), ygen, mask);
    loss.total.backward();
    opt.step();
    out.losses.push_back(loss.total.item<double>());
  }
  // Adam normalises each update to about lr, so an element whose gradient is mostly float32
  // rounding (float32 here, float64 there) may take a different step of up to lr. Left out:
  // the last bias of each distance network, whose exact gradient is zero (distances do not
  // change when every distance feature shifts alike): its float32 gradient is rounding alone.
  double diff_sq = 0, moved_sq = 0;
  for (const auto& [name, t] : hmb::model::state_dict(*model)) {
    if (name.find("ffn_dist.4.bias") != std::string::npos) continue;
    const auto want = f.at("after." + name).to(torch::kDouble);
    const auto diff = (t.detach().to(torch::kDouble) - want).abs();
    out.off += (diff > 0.1 * lr + 1e-3 * want.abs()).sum().item<std::int64_t>();
    out.total += t.numel();
    diff_sq += diff.pow(2).sum().item<double>();
    moved_sq += (want - f.at("weight." + name).to(torch::kDouble)).pow(2).sum().item<double>();
  }
  out.relative = std::sqrt(diff_sq / moved_sq);
  return out;
}
}  // namespace

TEST_CASE("reference: several AdamW steps give PyTorch's losses and weights", "[model][reference][adamw]") {
  auto f = load_fixture();
  const auto steps = f.at("adamw")[1].item<int>();
  REQUIRE(steps >= 3);
  // hep-mlbench's optimiser settings (the trainer's AdamW): decoupled weight decay 0.01.
  const auto ok = adamw_against_reference(f, 1.0, 0.01);
  for (int k = 0; k < steps; ++k) {
    INFO("loss before step " << k + 1);
    CHECK(ok.losses[static_cast<size_t>(k)] == Approx(f.at("adamw_losses")[k].item<double>()).epsilon(1e-4));
  }
  std::printf("reference AdamW: %d steps: the weights' updates differ by %.3g of their size; %lld of %lld weights "
              "by more than 0.1 lr\n",
              steps, ok.relative, static_cast<long long>(ok.off), static_cast<long long>(ok.total));
  CHECK(ok.relative <= 0.05);
  CHECK(ok.off <= ok.total / 200);
  // Not blind: a learning rate 20% or 10% off is seen.
  const auto fast = adamw_against_reference(f, 1.2, 0.01);
  const auto slow = adamw_against_reference(f, 0.9, 0.01);
  std::printf("reference AdamW: lr x 1.2 -> %.3g, lr x 0.9 -> %.3g\n", fast.relative, slow.relative);
  CHECK(fast.relative > 0.05);
  CHECK(slow.relative > 0.05);
}

TEST_CASE("weights: a state_dict saved by PyTorch (torch.save) loads into the C++ model", "[model][weights][reference]") {
  auto f = load_fixture();  // also writes the state_dict files beside it
  // A plain dict, an OrderedDict (model.state_dict() as saved, with _metadata), and an
  // OrderedDict without _metadata.
  for (const char* suffix : {".state_dict.pt", ".ordered.pt", ".ordered_plain.pt"}) {
    INFO(suffix);
    hmb::model::MLPF model(config_of(f));
    REQUIRE_NOTHROW(hmb::model::load_state_dict(*model, fixture_path() + suffix));
    for (const auto& [name, t] : hmb::model::state_dict(*model)) {
      INFO(name);
      CHECK(torch::equal(t, f.at("weight." + name)));
    }
  }
}
