#pragma once
// state_dict files: a dict {parameter name: tensor} as Python's torch.save writes it. Weights
// of the Python MLPF load into the C++ model, and hep-mlbench's checkpoints load in Python.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>

namespace hmb::model {

// Parameters and buffers by state_dict name ("conv_id.0.layernorm1.weight", ...).
std::vector<std::pair<std::string, torch::Tensor>> state_dict(const torch::nn::Module& m);

// Writes the state_dict (CPU copies) to `path` atomically, as a plain dict of tensors that
// Python's torch.load reads with its defaults (weights_only=True).
void save_state_dict(const torch::nn::Module& m, const std::string& path);

// The pickle LibTorch writes for a typed dict, restore_type_tag(dict, "Dict[str, Tensor]"),
// without the tag: a plain dict. Nothing when `pickle` has no such tag.
std::optional<std::string> untagged_dict(const std::string& pickle);

// The pickle of a torch.save'd collections.OrderedDict (what model.state_dict() is, with or
// without _metadata) rewritten to pickle a plain dict of the same items, which LibTorch's
// unpickler reads; nothing when `pickle` holds no OrderedDict or one built another way.
std::optional<std::string> ordered_dict_as_dict(const std::string& pickle);

// Copies every tensor of the file into the module; a plain dict and an OrderedDict both load.
// Missing or unexpected names, and shape mismatches, are refused with an Error naming the file
// and the key.
void load_state_dict(torch::nn::Module& m, const std::string& path);

}  // namespace hmb::model
