#pragma once
// One training run, stage after stage, as `train` and `sweep` run it:
//
//   machine & device ─► event file (read, validated, checked against the model) ─► model ─►
//   loaders ─► Trainer (window, meters) ─► RunResult
//
// Problems found before training (a bad file, a bad option) are thrown as hmb::Error; what
// happens while training ends in the result's status, never in an exception.
#include <array>
#include <optional>
#include <string>

#include "config/run_config.hpp"
#include "dist/launch.hpp"
#include "model/mlpf.hpp"
#include "train/records.hpp"

namespace hmb::app {

struct TrainingOutcome {
  train::RunResult result;
  std::optional<model::MLPF> model;  // the trained model (absent when it was never built)
};

// `launch`: the rank this process is and where the others meet (one process by default). With
// several ranks, rank 0's result holds what every rank measured (result.dist.ranks).
TrainingOutcome run_training(const config::RunConfig& cfg, const dist::LaunchInfo& launch = dist::LaunchInfo{});

// Parts of run_training with rules of their own, declared for the tests.
namespace detail {
// The learning rate's factor for `world` ranks under --lr-scaling `rule` (none, linear, sqrt).
double lr_factor(const std::string& rule, int world);

// The table a data-parallel run all-reduces after training, one row a rank (NaN: a figure that
// rank does not have): a rank's row from its result (`world` ranks share the result's events),
// and a rank's record read back from its row.
inline constexpr int kRankColumns = 15;
std::array<double, kRankColumns> rank_row(const train::RunResult& r, int world);
train::RankRecord rank_record(int rank, const std::array<double, kRankColumns>& row);

// LibTorch's CPU threads for this rank: `requested` (--threads) when above 0, else its share of
// the cores this process may run on (0 keeps LibTorch's default when there is one rank).
int threads_for_rank(int requested, const dist::LaunchInfo& launch);
}  // namespace detail

}  // namespace hmb::app
