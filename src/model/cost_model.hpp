#pragma once
// FLOPs of MLPF gnn_lsh from its layer shapes (multiply-add = 2 FLOP; matrix products only:
// element-wise work is a few percent). docs/model.md derives each term.
#include <cstdint>

#include "model/model_config.hpp"

namespace hmb::model {

struct Cost {
  double forward_per_element = 0;   // FLOP per real element, forward pass
  double train_per_element = 0;     // FLOP per element per training step (3 x forward)
};

Cost cost_per_element(const ModelConfig& cfg);

// FLOP of a training step over `elements` elements (padding included: the model computes it).
inline double train_flop(const ModelConfig& cfg, double elements) {
  return cost_per_element(cfg).train_per_element * elements;
}

}  // namespace hmb::model
