#pragma once
// The reference step: a short, deterministic probe of the arithmetic a run trains with, taken
// before training from the initial weights on the first training batch.
//
//   L0 = loss(w0), g0 = dL/dw at w0;  w1 = w0 - rho * |w0| * g0 / |g0|;  L1 = loss(w1) ...
//
// K normalised gradient steps in eval mode (no dropout), in float32 whatever the run's
// precision. Nothing in it is discrete on the path of the weights except the LSH bins, and no
// step amplifies a rounding difference the way Adam's first updates do (a gradient's sign
// decides an Adam update of size lr), so two machines that compute the same thing get losses
// and gradient norms that differ by float rounding only, while a wrong kernel, a corrupted
// weight or a wrong gradient moves them by far more. `hep-mlbench compare` checks them with
// the relative tolerances of its measured table (docs/tolerances.md).
//
// The weights are restored bit for bit afterwards and no random number is drawn, so the
// training that follows is the same as without the probe.
#include <nlohmann/json.hpp>

#include <functional>

#include "data/loader.hpp"
#include "model/mlpf.hpp"

namespace hmb::train {

struct ReferenceStepConfig {
  int steps = 2;            // K: normalised gradient steps after the first loss
  double step_size = 1e-3;  // rho: each step moves the weights by rho x |w0| (L2 over all parameters)
  // Asked before each forward pass: true ends the steps early (a stop signal: the caller then
  // stops the run where all ranks agree). The result then has fewer losses than steps + 1.
  std::function<bool()> stop = {};
};

// {"losses": [L0..LK], "grad_norms": [|g0|..|g(K-1)|], "steps": K, "step_size": rho,
//  "events": events in the batch}
nlohmann::json reference_step(model::MLPF& net, const data::Batch& batch, const torch::Device& device,
                              const ReferenceStepConfig& cfg = {});

}  // namespace hmb::train
