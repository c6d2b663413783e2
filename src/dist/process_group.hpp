#pragma once
// The multi-rank communicator: LibTorch's c10d process group (Gloo for CPU ranks, NCCL for GPU
// ranks) reached through a TCP store on MASTER_ADDR:MASTER_PORT or a file store, and c10d's
// bucketing gradient reducer for the gradients.
#include <chrono>
#include <memory>
#include <string>

#include "dist/communicator.hpp"
#include "dist/launch.hpp"

namespace hmb::dist {

struct ConnectOptions {
  std::string backend = "gloo";             // gloo | nccl
  int device_index = -1;                    // the CUDA device of this rank (nccl), -1 on the CPU
  std::chrono::milliseconds timeout{300000};  // rendezvous and every collective
};

// Meets the other ranks of `launch` and returns the communicator over all of them. Throws
// hmb::Error naming the rendezvous (address or file), the rank and the timeout when the others
// cannot be reached in time.
std::unique_ptr<Communicator> connect(const LaunchInfo& launch, const ConnectOptions& opts);

// The backend for `--dist-backend OPTION` ("auto", "gloo", "nccl") on a rank that trains on a GPU
// (`cuda`) or on the CPU: auto picks nccl on GPUs and gloo on CPUs. Throws hmb::Error for a pair
// that cannot work: nccl without a GPU, or gloo with one (hep-mlbench's Gloo group carries CPU
// tensors only; its gradients live on the GPU).
std::string choose_backend(const std::string& option, bool cuda);

// Whether this build can train on several ranks with `backend` ("gloo", "nccl").
bool backend_available(const std::string& backend);

}  // namespace hmb::dist
