#pragma once
// Seeds and deterministic algorithms: one seed drives everything random in a run.
#include <cstdint>
#include <string>

#include <torch/types.h>

#include "train/config.hpp"

namespace hmb::train {

struct DeterminismReport {
  bool deterministic = true;   // every setting needed for bit-for-bit repeats is in force
  std::string notes;           // what is not deterministic, and why
};

// Must run before the first CUDA call: cuBLAS reads CUBLAS_WORKSPACE_CONFIG once.
void prepare_cuda_environment(bool deterministic);

// Seeds LibTorch (CPU and CUDA) from `seed`, turns deterministic algorithms on or off, sets
// TF32 use from `precision` (only "tf32" allows it) and the CPU thread count (0: keep
// LibTorch's default). Returns what is in force.
DeterminismReport configure_determinism(std::uint64_t seed, bool deterministic,
                                        Precision precision, int threads,
                                        const torch::Device& device);

// Denormal (subnormal) floats in CPU arithmetic: flushed to zero (`flush`: FTZ and DAZ) or kept.
// Sets the calling thread's mode; the threads it starts afterwards inherit it: LibTorch's
// intra-op threads (started at its first parallel operation), the loader's, the
// communicator's. So call this before any of them starts, and check with denormal_mode().
void set_denormal_mode(bool flush);

// How LibTorch's CPU threads treat denormal floats now, found by multiplying a tensor of them
// (an operation LibTorch spreads over all its threads): "flushed" (every thread flushes them to
// zero), "kept", or "mixed" (threads started before the mode was set keep the old one).
std::string denormal_mode();

// A SHA-256 over every tensor of `named` in name order (float values as stored, little-endian
// bytes of the contiguous CPU copy): the weights checksum printed and reported.
std::string tensors_checksum(const std::vector<std::pair<std::string, torch::Tensor>>& named);

}  // namespace hmb::train
