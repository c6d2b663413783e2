#include "dist/agreement.hpp"

#include <torch/torch.h>

#include "util/sha256.hpp"

namespace hmb::dist {

const std::set<std::string>& per_rank_options() {
  // Where a rank reads from may differ too (a copy on each node's local disk): the event file is
  // compared by its checksum once read, and rank 0's initial weights are broadcast to all.
  static const std::set<std::string> names = {"results", "threads", "loader-threads", "prefetch", "gpus",
                                              "gpu-devices", "nproc", "trace", "data", "init-weights"};
  return names;
}

OptionFingerprints fingerprint_options(const nlohmann::json& config) {
  OptionFingerprints f;
  for (const auto& [name, value] : config.items()) {
    if (per_rank_options().count(name) != 0) continue;
    Sha256 h;
    h.update(value.dump());
    f.names.push_back(name);
    // 15 hex digits: a non-negative int64, so that its negation is one too.
    f.values.push_back(static_cast<std::int64_t>(std::stoull(h.hex().substr(0, 15), nullptr, 16)));
  }
  return f;
}

std::vector<std::string> options_differing_across_ranks(const nlohmann::json& config, Communicator& comm) {
  if (comm.world() <= 1) return {};
  const auto f = fingerprint_options(config);
  const auto n = static_cast<std::int64_t>(f.values.size());
  // [v..., -v...] reduced by max gives every option's largest and (negated) smallest value:
  // an option agrees exactly when both are this rank's value, which every rank sees alike.
  auto t = torch::empty({2 * n}, torch::kLong);
  for (std::int64_t i = 0; i < n; ++i) {
    t[i] = f.values[static_cast<size_t>(i)];
    t[n + i] = -f.values[static_cast<size_t>(i)];
  }
  comm.all_reduce(t, ReduceOp::max);
  std::vector<std::string> differ;
  for (std::int64_t i = 0; i < n; ++i)
    if (t[i].item<std::int64_t>() != -t[n + i].item<std::int64_t>()) differ.push_back(f.names[static_cast<size_t>(i)]);
  return differ;
}

}  // namespace hmb::dist
