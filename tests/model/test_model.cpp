#include <catch2/catch.hpp>
#include <ATen/autocast_mode.h>
#include <torch/serialize.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "model/cost_model.hpp"
#include "model/loss.hpp"
#include "model/mlpf.hpp"
#include "model/weights_io.hpp"
#include "support/temp_folder.hpp"
#include "util/error.hpp"

using namespace hmb::model;
using hmb::testing::TempFolder;

namespace {
// The parameter count from the shapes in docs/model.md, written out independently.
std::int64_t count_from_shapes(std::int64_t w, std::int64_t convs, std::int64_t d, std::int64_t h, std::int64_t msgs) {
  auto linear = [](std::int64_t i, std::int64_t o) { return i * o + o; };
  auto ffn = [&](std::int64_t i, std::int64_t o, std::int64_t wd) { return linear(i, wd) + 2 * wd + linear(wd, o); };
  const std::int64_t layer = 2 * w + linear(w, h) + linear(h, h) + linear(h, d) + msgs * (3 * w * w + w);
  return 2 * ffn(12, w, w) + 2 * convs * layer + ffn(12 + w, 6, w) + 5 * ffn(12 + w + 6, 2, w);
}

torch::Tensor events(std::vector<int> lengths) {
  int n = *std::max_element(lengths.begin(), lengths.end());
  auto x = torch::zeros({static_cast<long>(lengths.size()), n, 12});
  for (size_t i = 0; i < lengths.size(); ++i) {
    auto e = torch::randn({lengths[i], 12});
    e.select(1, 0).fill_(1 + static_cast<double>(i % 2));
    x[static_cast<long>(i)].narrow(0, 0, lengths[i]).copy_(e);
  }
  return x;
}

}  // namespace

TEST_CASE("model: the delphes preset has the parameter count of the doc's shapes", "[model]") {
  auto cfg = preset("delphes");
  MLPF m(cfg);
  const auto expected = count_from_shapes(512, 3, 128, 128, 2);
  CHECK(expected == 12224784);
  CHECK(m->num_parameters() == expected);
  // The frozen codebooks are buffers: 128 x 100 per graph layer, 6 layers, not trainable.
  std::int64_t frozen = 0;
  for (const auto& b : m->named_buffers()) frozen += b.value().numel();
  CHECK(frozen == 6 * 128 * 100);
}

TEST_CASE("model: presets come from the configuration and bad names are refused", "[model]") {
  CHECK(preset("tiny").width < preset("small").width);
  CHECK(preset("small").width < preset("delphes").width);
  CHECK_THROWS_WITH(preset("huge"), Catch::Contains("huge") && Catch::Contains("delphes"));
}

TEST_CASE("model: preset auto is the reference model on GPUs and the small one on the CPU", "[model]") {
  CHECK(resolve_preset_name("auto", /*on_gpu=*/true) == "delphes");
  CHECK(resolve_preset_name("auto", /*on_gpu=*/false) == "small");
  CHECK(resolve_preset_name("tiny", true) == "tiny");
  CHECK(resolve_preset_name("delphes", false) == "delphes");
}

TEST_CASE("model: shapes, and padding rows do not change real elements' outputs", "[model]") {
  torch::manual_seed(3);
  auto cfg = preset("tiny");
  MLPF m(cfg);
  m->eval();
  auto x = events({50});
  auto padded = torch::cat({x, torch::zeros({1, 10, 12})}, 1);  // 60 < bin size 64: same bins
  auto a = m->forward(x, x.select(-1, 0) != 0);
  auto b = m->forward(padded, padded.select(-1, 0) != 0);
  CHECK(a.logits.sizes() == torch::IntArrayRef({1, 50, 6}));
  CHECK(a.momentum.sizes() == torch::IntArrayRef({1, 50, 5}));
  CHECK(b.logits.sizes() == torch::IntArrayRef({1, 60, 6}));
  CHECK(torch::allclose(a.logits, b.logits.narrow(1, 0, 50), 1e-5, 1e-5));
  CHECK(torch::allclose(a.momentum, b.momentum.narrow(1, 0, 50), 1e-5, 1e-5));
}

TEST_CASE("model: a forward pass is deterministic", "[model]") {
  torch::manual_seed(5);
  MLPF m(preset("tiny"));
  auto x = events({150, 97});
  auto mask = x.select(-1, 0) != 0;
  CHECK(torch::equal(m->forward(x, mask).logits, m->forward(x, mask).logits));
}

TEST_CASE("cost model: the delphes preset is about 33 MFLOP per element forward", "[model][cost]") {
  auto c = cost_per_element(preset("delphes"));
  CHECK(c.forward_per_element == Approx(33.2e6).epsilon(0.02));
  CHECK(c.train_per_element == Approx(3 * c.forward_per_element));
}

TEST_CASE("weights: save and load round-trip, wrong keys and shapes are refused", "[model][weights]") {
  const TempFolder dir("weights");
  const std::string path = (dir.path / "tiny.pt").string();
  torch::manual_seed(1);
  MLPF a(preset("tiny"));
  save_state_dict(*a, path);
  torch::manual_seed(2);
  MLPF b(preset("tiny"));
  load_state_dict(*b, path);
  for (const auto& [name, t] : state_dict(*a)) {
    bool found = false;
    for (const auto& [n2, t2] : state_dict(*b))
      if (n2 == name) {
        found = true;
        CHECK(torch::equal(t, t2));
      }
    CHECK(found);
  }
  MLPF other(preset("small"));
  CHECK_THROWS_WITH(load_state_dict(*other, path), Catch::Contains("shape") && Catch::Contains(path));
  // One graph layer more or less per stack: the same shapes, but keys the file lacks or has over.
  ModelConfig deeper = preset("tiny");
  deeper.num_convs += 1;
  MLPF more(deeper);
  CHECK_THROWS_WITH(load_state_dict(*more, path), Catch::Contains("missing key") && Catch::Contains(path));
  ModelConfig shallower = preset("tiny");
  REQUIRE(shallower.num_convs >= 2);
  shallower.num_convs -= 1;
  MLPF fewer(shallower);
  CHECK_THROWS_WITH(load_state_dict(*fewer, path), Catch::Contains("unexpected key") && Catch::Contains(path));
  CHECK_THROWS_WITH(load_state_dict(*b, "/nonexistent/w.pt"), Catch::Contains("does not exist") && Catch::Contains("--init-weights"));
  CHECK_THROWS_WITH(load_state_dict(*b, "/tmp"), Catch::Contains("weights file '/tmp' is a folder") && Catch::Contains("--init-weights"));
}

TEST_CASE("weights: a file that is not a dict of named tensors is refused, naming it", "[model][weights]") {
  const TempFolder dir("weights-bad");
  MLPF m(preset("tiny"));
  auto write = [&dir](const std::string& name, const std::vector<char>& bytes) {
    const auto p = (dir.path / name).string();
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p;
  };
  const std::string text = "junk";
  const auto junk = write("junk.pt", std::vector<char>(text.begin(), text.end()));
  CHECK_THROWS_WITH(load_state_dict(*m, junk),
                    Catch::Contains("is not a torch.save state_dict") && Catch::Contains(junk));
  // Readable torch.save archives of something else: a list, and a dict of numbers.
  const auto list = write("list.pt", torch::pickle_save(c10::List<std::int64_t>({1, 2})));
  CHECK_THROWS_WITH(load_state_dict(*m, list), Catch::Contains("expected a dict of tensors") && Catch::Contains(list));
  c10::Dict<std::string, std::int64_t> numbers;
  numbers.insert("weight", 1);
  const auto dict = write("numbers.pt", torch::pickle_save(numbers));
  CHECK_THROWS_WITH(load_state_dict(*m, dict),
                    Catch::Contains("every entry must be name -> tensor") && Catch::Contains(dict));
}

TEST_CASE("loss: parts are finite, positive, and zero-particle batches have no regression", "[model][loss]") {
  torch::manual_seed(4);
  MLPF m(preset("tiny"));
  auto x = events({70, 40});
  auto mask = x.select(-1, 0) != 0;
  auto ygen = torch::zeros({2, 70, 7});
  auto out = m->forward(x, mask);
  auto none = compute_loss(out, ygen, mask);
  CHECK(none.regression.item<double>() == 0.0);
  CHECK(none.classification.item<double>() > 0.0);
  ygen.select(-1, 0).copy_(torch::randint(0, 6, {2, 70}));
  ygen.narrow(-1, 2, 5).copy_(torch::randn({2, 70, 5}));
  auto some = compute_loss(out, ygen, mask);
  CHECK(std::isfinite(some.total.item<double>()));
  CHECK(some.regression.item<double>() > 0.0);
  auto counts = zero_counts(6, torch::kCPU);
  accumulate(counts, out, some, ygen, mask);
  CHECK(counts.confusion.sum().item<std::int64_t>() == 110);
  CHECK(counts.n_real.item<std::int64_t>() == 110);
}

// The trainer autocasts to bf16/fp16 on CUDA only; the CPU's autocast casts the same matrix
// products to the low precision, so an op that meets a low-precision tensor and a float one
// without a cast of its own (the GHConv gate: float bias + bf16 product) fails here too.
TEST_CASE("model: forward, loss and backward run under bf16 and fp16 autocast", "[model][amp]") {
  for (const auto dtype : {at::kBFloat16, at::kHalf}) {
    CAPTURE(c10::toString(dtype));
    torch::manual_seed(8);
    MLPF m(preset("tiny"));
    auto x = events({70, 40});
    auto mask = x.select(-1, 0) != 0;
    auto ygen = torch::zeros({2, 70, 7});
    ygen.select(-1, 0).copy_(torch::randint(0, 6, {2, 70}));
    ygen.narrow(-1, 2, 5).copy_(torch::randn({2, 70, 5}));
    LossParts loss;
    Outputs out;
    at::autocast::set_autocast_enabled(at::kCPU, true);
    at::autocast::set_autocast_dtype(at::kCPU, dtype);
    try {
      out = m->forward(x, mask);
      loss = compute_loss(out, ygen, mask);
    } catch (...) {
      at::autocast::set_autocast_enabled(at::kCPU, false);
      at::autocast::clear_cache();
      throw;
    }
    at::autocast::set_autocast_enabled(at::kCPU, false);
    at::autocast::clear_cache();
    CHECK(out.logits.scalar_type() == dtype);  // the products really ran in low precision
    REQUIRE(std::isfinite(loss.total.item<double>()));
    loss.total.backward();
    for (const auto& p : m->parameters()) {
      REQUIRE(p.grad().defined());
      CHECK(p.grad().scalar_type() == at::kFloat);
    }
  }
}

TEST_CASE("model: the largest event it can bin, and a clear refusal beyond it", "[model][limits]") {
  ModelConfig c = preset("tiny");
  CHECK(max_elements_per_event(c) == 201 * 64);
  CHECK(max_elements_per_event(preset("delphes")) == 201 * 640);
  c.bin_size = 8;
  c.max_num_bins = 4;  // codebook of 2 rotations: 5 bins of 8 at most
  REQUIRE(max_elements_per_event(c) == 40);
  torch::manual_seed(1);
  MLPF net(c);
  auto at_limit = events({40, 7});
  CHECK_NOTHROW(net->forward(at_limit, at_limit.select(-1, 0) != 0));
  auto beyond = events({41, 7});
  CHECK_THROWS_WITH(net->forward(beyond, beyond.select(-1, 0) != 0),
                    Catch::Contains("model " + c.name) && Catch::Contains("events of 41 elements") &&
                        Catch::Contains("the 40 it can bin"));
}

TEST_CASE("model: the binning permutation has gather's values and gradients, its backward a gather", "[model]") {
  torch::manual_seed(12);
  const int64_t B = 3, Np = 50, c = 7;
  auto order = torch::stack({torch::randperm(Np), torch::randperm(Np), torch::arange(Np)});  // (B, Np)
  auto inverse = std::get<1>(torch::sort(order, /*stable=*/true, -1, false));
  auto x = torch::randn({B, Np, c});
  auto a = x.clone().requires_grad_(true), b = x.clone().requires_grad_(true);
  auto by_gather = a.gather(1, order.unsqueeze(-1).expand({B, Np, c}));
  auto by_permutation = permute_rows(b, order, inverse);
  CHECK(torch::equal(by_gather, by_permutation));
  // Row j of the output is row order[j] of x, so inverse undoes it.
  CHECK(torch::equal(permute_rows(by_permutation, inverse, order), x));
  const auto upstream = torch::randn({B, Np, c});
  by_gather.backward(upstream);
  by_permutation.backward(upstream);
  CHECK(torch::equal(a.grad(), b.grad()));
  // A wrong inverse gives wrong gradients (the test can tell).
  auto c2 = x.clone().requires_grad_(true);
  permute_rows(c2, order, order).backward(upstream);
  CHECK_FALSE(torch::equal(a.grad(), c2.grad()));
}
