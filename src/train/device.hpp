#pragma once
// Which device the run trains on. The choice is a pure function of the request and of what is
// visible, so that the CPU fallback is tested on machines without a GPU.
#include <torch/types.h>

#include <string>

namespace hmb::train {

struct DeviceChoice {
  torch::Device device{torch::kCPU};
  int num_gpus = 0;        // GPUs this process group will use (0 on CPU)
  int visible = 0;         // CUDA devices this process sees
  std::string summary;     // what was chosen and why, for the log and the report
};

// `gpus` is the --gpus value: "auto", "all", "cpu" (or "0"), or a count N >= 1.
// `visible` is the number of CUDA devices this process sees.
// "auto" uses every visible GPU, and with none visible falls back to the CPU and says so.
// "all" and "N" ask for GPUs explicitly: none visible (a container started without its GPUs),
// or fewer than N, is an error (the user asked for hardware this process does not see).
DeviceChoice choose_device(const std::string& gpus, int visible);

// The GPU a rank of a launched job trains on, from its local rank, its node's rank count and the
// GPUs it sees. Every GPU of the node visible to every rank: GPU `local_rank`. One GPU visible
// (the launcher or the site binds one GPU per rank: Slurm's --gpus-per-task, a wrapper setting
// CUDA_VISIBLE_DEVICES per rank): that one, GPU 0 (ranks given the same GPU are refused by NCCL).
// Otherwise (2 or more visible, but not one for each local rank) an Error saying what to change.
int rank_gpu(int local_rank, int local_world, int visible);

// choose_device() with the number of CUDA devices LibTorch sees; logs the choice. Unless the
// CPU was asked for, a driver too old for the CUDA runtime is an Error naming both versions.
DeviceChoice select_device(const std::string& gpus);

}  // namespace hmb::train
