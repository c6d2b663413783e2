// `hep-mlbench selftest`: the smoke step. Chooses the device exactly as training does, runs a
// few forward/backward/update steps of a small network there with a fixed seed, and checks the
// loss went down. Proves the binary, LibTorch and the device work before a long benchmark.
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>

#include "app/commands.hpp"
#include "train/device.hpp"
#include "util/error.hpp"

namespace hmb::app {

namespace {
struct SelftestConfig {
  std::string gpus = "auto";
  int steps = 20;
  std::uint64_t seed = 42;
};

int run_selftest(const SelftestConfig& cfg) {
  // select_device() refuses a driver too old for the CUDA runtime, saying what to do.
  const auto choice = train::select_device(cfg.gpus);
  torch::manual_seed(cfg.seed);
  // (B=256, 12) inputs, like one chunk of detector elements; a 12 -> 64 -> 6 classifier.
  torch::nn::Sequential net(torch::nn::Linear(12, 64), torch::nn::ELU(), torch::nn::Linear(64, 6));
  net->to(choice.device);
  auto x = torch::randn({256, 12}).to(choice.device);
  auto y = (x.index({torch::indexing::Slice(), 0}) > 0).to(torch::kLong).to(choice.device);
  torch::optim::AdamW opt(net->parameters(), torch::optim::AdamWOptions(1e-2));

  const auto t0 = std::chrono::steady_clock::now();
  double first = 0, last = 0;
  for (int s = 0; s < cfg.steps; ++s) {
    opt.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(net->forward(x), y);
    loss.backward();
    opt.step();
    last = loss.item<double>();
    if (s == 0) first = last;
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  require(std::isfinite(last), "selftest: the loss is not finite on " + choice.summary);
  spdlog::info("selftest: {} steps on {} in {:.1f} ms, loss {:.4f} -> {:.4f}", cfg.steps,
               choice.device.str(), ms, first, last);
  if (!(last < first)) {
    spdlog::error("selftest: the loss did not decrease ({} -> {}): LibTorch or the device is broken", first, last);
    return 1;
  }
  spdlog::info("selftest: ok");
  return 0;
}
}  // namespace

Command add_selftest_command(CLI::App& app) {
  auto cfg = std::make_shared<SelftestConfig>();
  auto* sub = app.add_subcommand("selftest", "Smoke test: a few training steps of a tiny network on the chosen device");
  sub->add_option("--gpus", cfg->gpus, "auto | all | cpu | number of GPUs (as for train)")->capture_default_str();
  // Two steps at least: the check is that the loss falls from the first step to the last.
  sub->add_option("--steps", cfg->steps, "training steps (at least 2)")->capture_default_str()->check(whole_number_from(2));
  sub->add_option("--seed", cfg->seed, "random seed")->capture_default_str()->check(whole_number_from<std::uint64_t>(0));
  last_value_wins(*sub);
  return {sub, [cfg] { return run_selftest(*cfg); }};
}

}  // namespace hmb::app
