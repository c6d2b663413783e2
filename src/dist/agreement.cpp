#include "dist/agreement.hpp"

#include <torch/torch.h>

#include "util/json_text.hpp"
#include "util/sha256.hpp"

namespace hmb::dist {

const std::set<std::string>& per_rank_options() {
  // Where a rank reads from may differ too (a copy on each node's local disk): the event file is
  // compared by its checksum once read, and rank 0's initial weights are broadcast to all.
  static const std::set<std::string> names = {"results", "threads", "loader-threads", "prefetch", "gpus",
                                              "gpu-devices", "nproc", "trace", "data", "init-weights"};
  return names;
}

namespace {
// The first 15 hex digits of a checksum: a non-negative int64, so that its negation is one too.
std::int64_t fingerprint(const std::string& hex) {
  return static_cast<std::int64_t>(std::stoull(hex.substr(0, 15), nullptr, 16));
}
}  // namespace

std::vector<bool> same_across_ranks(const std::vector<std::int64_t>& values, Communicator& comm) {
  const auto n = static_cast<std::int64_t>(values.size());
  // [v..., -v...] reduced by max gives every value's largest and (negated) smallest: a value is
  // the same everywhere exactly when both are this rank's, which every rank sees alike.
  auto t = torch::empty({2 * n}, torch::kLong);
  for (std::int64_t i = 0; i < n; ++i) {
    t[i] = values[static_cast<size_t>(i)];
    t[n + i] = -values[static_cast<size_t>(i)];
  }
  comm.all_reduce(t, ReduceOp::max);
  std::vector<bool> same;
  for (std::int64_t i = 0; i < n; ++i) same.push_back(t[i].item<std::int64_t>() == -t[n + i].item<std::int64_t>());
  return same;
}

bool same_on_all_ranks(const std::string& checksum, Communicator& comm) {
  return same_across_ranks({fingerprint(checksum)}, comm).front();
}

OptionFingerprints fingerprint_options(const nlohmann::json& config) {
  OptionFingerprints f;
  for (const auto& [name, value] : config.items()) {
    if (per_rank_options().count(name) != 0) continue;
    Sha256 h;
    h.update(json_text(value));
    f.names.push_back(name);
    f.values.push_back(fingerprint(h.hex()));
  }
  return f;
}

std::vector<std::string> options_differing_across_ranks(const nlohmann::json& config, Communicator& comm) {
  if (comm.world() <= 1) return {};
  const auto f = fingerprint_options(config);
  const auto same = same_across_ranks(f.values, comm);
  std::vector<std::string> differ;
  for (size_t i = 0; i < same.size(); ++i)
    if (!same[i]) differ.push_back(f.names[i]);
  return differ;
}

}  // namespace hmb::dist
