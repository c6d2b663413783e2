#pragma once
// What a person can do about an exception raised while training: out-of-memory errors (CUDA's,
// the CPU allocator's, std::bad_alloc) become "out of memory at batch size B ... : lower
// --batch-size"; anything else keeps its own message, without LibTorch's backtrace.
#include <cstdint>
#include <exception>
#include <string>

namespace hmb::train {

struct FailureContext {
  std::string stage = "training";   // "training", "validation"
  std::int64_t step = 0;            // global step being run (0: before the first)
  int batch_size = 0;
  std::string preset;
  std::string device;               // "an 80 GiB NVIDIA H100", "the CPU (24 GiB host memory)"
};

bool is_out_of_memory(const std::exception& e);
// The message without LibTorch's C++ backtrace (the first lines that say what happened).
std::string short_message(const std::exception& e);
std::string explain_failure(const std::exception& e, const FailureContext& ctx);

}  // namespace hmb::train
