#pragma once
// Checks that the ranks of a job run the same job: the same options and the same data. Ranks
// started with different command lines would otherwise train something no single run trains
// (another batch size or seed on one rank), or fall out of step in their collectives and fail
// with a reason that blames the wrong thing.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "dist/communicator.hpp"

namespace hmb::dist {

// Options each rank may set for itself: where it reads and writes, its own threads and GPUs.
const std::set<std::string>& per_rank_options();

// One 60-bit fingerprint per option of `config` (the resolved options, name -> value), in the
// order of its keys, leaving out per_rank_options().
struct OptionFingerprints {
  std::vector<std::string> names;
  std::vector<std::int64_t> values;
};
OptionFingerprints fingerprint_options(const nlohmann::json& config);

// For each of `values`, whether it is the same on every rank (the same answer on every rank), by
// one all-reduce of the values and their negations.
std::vector<bool> same_across_ranks(const std::vector<std::int64_t>& values, Communicator& comm);

// Whether a hex checksum (its first 60 bits) is the same on every rank.
bool same_on_all_ranks(const std::string& checksum, Communicator& comm);

// The options whose values are not the same on every rank (the same list on every rank), by
// one all-reduce. Empty for one rank.
std::vector<std::string> options_differing_across_ranks(const nlohmann::json& config, Communicator& comm);

}  // namespace hmb::dist
