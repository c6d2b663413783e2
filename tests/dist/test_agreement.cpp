// The ranks' options compared: which differ, the same list on every rank, per-rank options and
// one rank left alone.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "config/run_config.hpp"
#include "dist/agreement.hpp"

using namespace hmb::dist;

namespace {
// This rank of two, whose peer holds `peer_config`: an all-reduce combines this rank's tensor
// with the one the peer would contribute (the fingerprints laid out as the code under test
// lays them out: values, then their negations).
class TwoRanks final : public Communicator {
 public:
  explicit TwoRanks(nlohmann::json peer_config) : peer_(std::move(peer_config)) {}
  int rank() const override { return 0; }
  int world() const override { return 2; }
  void all_reduce(torch::Tensor& t, ReduceOp op) override {
    REQUIRE(op == ReduceOp::max);
    const auto f = fingerprint_options(peer_);
    const auto n = static_cast<std::int64_t>(f.values.size());
    REQUIRE(t.numel() == 2 * n);
    auto peer = torch::empty({2 * n}, torch::kLong);
    for (std::int64_t i = 0; i < n; ++i) {
      peer[i] = f.values[static_cast<size_t>(i)];
      peer[n + i] = -f.values[static_cast<size_t>(i)];
    }
    t = torch::maximum(t, peer);
  }
  void broadcast(torch::Tensor&, int) override {}
  std::unique_ptr<GradientSync> sync_gradients(const std::vector<torch::Tensor>&, const GradientSyncOptions&) override {
    return std::make_unique<GradientSync>();
  }
  bool any(bool flag) override { return flag; }
  std::string describe() const override { return "two ranks (test)"; }
  std::string backend() const override { return "test"; }

 private:
  nlohmann::json peer_;
};

nlohmann::json config_of(const hmb::config::RunConfig& c) { return hmb::config::run_options().to_json(c); }
}  // namespace

TEST_CASE("agreement: options that differ between ranks are named, on each rank alike", "[dist][agreement]") {
  hmb::config::RunConfig mine;
  mine.data = "/node0/events.h5";
  hmb::config::RunConfig theirs = mine;

  TwoRanks same(config_of(theirs));
  CHECK(options_differing_across_ranks(config_of(mine), same).empty());

  theirs.batch_size = mine.batch_size + 1;
  theirs.seed = mine.seed + 1;
  TwoRanks other(config_of(theirs));
  const auto differ = options_differing_across_ranks(config_of(mine), other);
  CHECK(differ == std::vector<std::string>{"batch-size", "seed"});
  // The peer, running the same comparison against this rank, finds the same two.
  TwoRanks back(config_of(mine));
  CHECK(options_differing_across_ranks(config_of(theirs), back) == differ);
}

TEST_CASE("agreement: where a rank reads and writes, and its threads, may differ, and one rank compares nothing",
          "[dist][agreement]") {
  hmb::config::RunConfig mine;
  hmb::config::RunConfig theirs = mine;
  theirs.results = "elsewhere";
  theirs.threads = mine.threads + 3;
  theirs.data = "/node1/events.h5";  // compared by its checksum once read
  TwoRanks other(config_of(theirs));
  CHECK(options_differing_across_ranks(config_of(mine), other).empty());
  for (const auto& name : per_rank_options()) CHECK(config_of(mine).contains(name));  // no stale names

  theirs.log_every = mine.log_every + 1;  // sets when the ranks reduce their losses
  TwoRanks again(config_of(theirs));
  CHECK(options_differing_across_ranks(config_of(mine), again) == std::vector<std::string>{"log-every"});
  hmb::dist::SingleProcess alone;
  CHECK(options_differing_across_ranks(config_of(theirs), alone).empty());
}
