#pragma once
// The training run: loads the sample, builds the model from a preset, trains with AdamW for
// E epochs (or S steps), validates after each epoch and measures everything the report holds.
//
//   event file ─► Loader ─► Batch ─► MLPF ─► Outputs ─► Loss ─► AdamW step
//                                  (StepRecord per step, EpochRecord per epoch) ─► RunResult
#include "config/run_config.hpp"
#include "train/records.hpp"

namespace hmb::train {

// Runs the whole training described by `cfg` and returns what it measured. Never throws for
// problems found while training (a NaN loss, a stop signal): the result's status says
// "failed" or "interrupted" with the reason, keeping every record made so far. Problems found
// before training starts (a bad file, a bad option) are thrown as hmb::Error.
RunResult run_training(const config::RunConfig& requested);

}  // namespace hmb::train
