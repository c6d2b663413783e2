#pragma once
// One training run, stage after stage, as `train` and `sweep` run it:
//
//   machine & device ─► event file (read, validated, checked against the model) ─► model ─►
//   loaders ─► Trainer (window, meters) ─► RunResult
//
// Problems found before training (a bad file, a bad option) are thrown as hmb::Error; what
// happens while training ends in the result's status, never in an exception.
#include <optional>

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

}  // namespace hmb::app
