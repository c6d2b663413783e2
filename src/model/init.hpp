#pragma once
// Random initialisation that gives the same bits on every CPU. LibTorch's own uniform_ and
// normal_ kernels are compiled once per vector width (scalar, AVX2, AVX-512, Arm), and the
// arithmetic that turns random bits into floats differs between those builds in the last bit
// (contracted multiply-adds; vectorised log and sin/cos approximations). A benchmark whose
// initial weights depend on the CPU's vector width would train another workload on every
// vendor's machine, so hep-mlbench draws only integers from the seeded generator (exact
// everywhere) and turns them into floats in double precision, rounding once to float.
#include <torch/nn/module.h>
#include <torch/types.h>

namespace hmb::model {

// Uniform on [lo, hi): 24-bit integers k from the seeded CPU generator,
// lo + (k * 2^-24) * (hi - lo) in double, rounded to float32.
torch::Tensor portable_uniform(at::IntArrayRef shape, double lo, double hi);

// Standard normal by Box-Muller from two 24-bit integers per value, in double on the host
// (sqrt(-2 ln u1) cos(2 pi u2), u1 in (0, 1]), rounded to float32.
torch::Tensor portable_normal(at::IntArrayRef shape);

// Re-initialises every torch::nn::Linear below `module` (named_modules order, weight then
// bias) as LibTorch's default does, uniform on +-1/sqrt(fan_in), through portable_uniform.
void reset_linear_layers(torch::nn::Module& module);

}  // namespace hmb::model
