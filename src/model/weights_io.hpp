#pragma once
// state_dict files: a dict {parameter name: tensor} as Python's torch.save writes it. Weights
// of the Python MLPF load into the C++ model, and hep-mlbench's checkpoints load in Python.
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>

namespace hmb::model {

// Parameters and buffers by state_dict name ("conv_id.0.layernorm1.weight", ...).
std::vector<std::pair<std::string, torch::Tensor>> state_dict(const torch::nn::Module& m);

// Writes the state_dict (CPU copies) to `path` atomically.
void save_state_dict(const torch::nn::Module& m, const std::string& path);

// Copies every tensor of the file into the module. Missing or unexpected names, and shape
// mismatches, are refused with an Error naming the file and the key.
void load_state_dict(torch::nn::Module& m, const std::string& path);

}  // namespace hmb::model
