#include "train/determinism.hpp"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cstdlib>

#include "util/sha256.hpp"

namespace hmb::train {

void prepare_cuda_environment(bool deterministic) {
  // cuBLAS is only deterministic with a fixed workspace; it reads this at handle creation.
  if (deterministic) ::setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", /*overwrite=*/0);
}

DeterminismReport configure_determinism(std::uint64_t seed, bool deterministic,
                                        Precision precision, int threads,
                                        const torch::Device& device) {
  DeterminismReport r;
  torch::manual_seed(seed);  // seeds CPU and every CUDA device
  auto& ctx = at::globalContext();
  ctx.setDeterministicAlgorithms(deterministic, /*warn_only=*/false);
  ctx.setDeterministicCuDNN(deterministic);
  ctx.setBenchmarkCuDNN(false);
  const bool tf32 = precision == Precision::tf32;
  ctx.setAllowTF32CuBLAS(tf32);
  ctx.setAllowTF32CuDNN(tf32);
  if (threads > 0) {
    at::set_num_threads(threads);
  }
  if (!deterministic) {
    r.deterministic = false;
    r.notes = "--deterministic false: repeated runs may differ in the last bits";
  } else if (device.is_cuda() && precision != Precision::fp32) {
    r.deterministic = false;
    r.notes = "--precision " + to_string(precision) + " on CUDA: reduced-precision kernels, repeats agree within tolerance";
  }
  if (!r.deterministic) spdlog::warn("determinism: {}", r.notes);
  return r;
}

void set_denormal_mode(bool flush) {
  // false where LibTorch cannot set the mode on this CPU: denormal_mode() then says what holds.
  at::globalContext().setFlushDenormal(flush);
}

std::string denormal_mode() {
  // Large enough for LibTorch to split the product over its threads. Each element is the
  // denormal 2^-128, written as bits: a float value passed to LibTorch would be converted on
  // this thread, and flushed already when it flushes. The result is read as bits too: a float
  // comparison treats a denormal as zero where denormals are flushed.
  const auto x = torch::full({1 << 20}, 0x00200000, torch::kInt32).view(torch::kFloat);
  const auto flushed = ((x * 3.0F).view(torch::kInt32) == 0).sum().item<std::int64_t>();
  if (flushed == x.numel()) return "flushed";
  return flushed == 0 ? "kept" : "mixed";
}

std::string tensors_checksum(const std::vector<std::pair<std::string, torch::Tensor>>& named) {
  auto sorted = named;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  Sha256 h;
  for (const auto& [name, t] : sorted) {
    h.update(name);
    auto c = t.detach().to(torch::kCPU).contiguous();
    h.update(c.data_ptr(), static_cast<size_t>(c.numel()) * c.element_size());
  }
  return h.hex();
}

}  // namespace hmb::train
