// The reference check: hep-mlbench's C++ MLPF against an independent PyTorch computation
// (tests/reference/mlpf_reference.py, float64) for the same weights and inputs: logits,
// momentum, loss parts and every parameter's gradient.
#include <catch2/catch.hpp>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "model/loss.hpp"
#include "model/mlpf.hpp"
#include "model/weights_io.hpp"

namespace {
using TensorMap = std::map<std::string, torch::Tensor>;

TensorMap load_fixture() {
  static TensorMap cache;
  if (!cache.empty()) return cache;
  const auto path = (std::filesystem::temp_directory_path() / "hmb-mlpf-reference.pt").string();
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

TEST_CASE("weights: a state_dict saved by PyTorch (torch.save) loads into the C++ model", "[model][weights][reference]") {
  load_fixture();  // also writes <fixture>.state_dict.pt
  const auto path = (std::filesystem::temp_directory_path() / "hmb-mlpf-reference.pt.state_dict.pt").string();
  auto f = load_fixture();
  hmb::model::MLPF model(config_of(f));
  hmb::model::load_state_dict(*model, path);
  for (const auto& [name, t] : hmb::model::state_dict(*model)) {
    INFO(name);
    CHECK(torch::equal(t, f.at("weight." + name)));
  }
}
