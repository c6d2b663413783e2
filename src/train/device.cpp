#include "train/device.hpp"

#include <spdlog/spdlog.h>
#include <torch/cuda.h>

#include "gpu/cuda_info.hpp"
#include "util/error.hpp"

namespace hmb::train {

int rank_gpu(int local_rank, int local_world, int visible) {
  if (local_rank < visible) return local_rank;
  if (visible == 1) return 0;  // bound to its own GPU by the launcher or the site
  throw Error("dist: this rank is local rank " + std::to_string(local_rank) + " of " + std::to_string(local_world) +
              " on its node but only " + std::to_string(visible) +
              " GPU(s) are visible to it: start at most one rank per GPU, give each rank all of the node's GPUs "
              "or exactly one (CUDA_VISIBLE_DEVICES, Slurm's --gpus-per-task=1), or use --gpus cpu");
}

DeviceChoice choose_device(const std::string& gpus, int visible) {
  DeviceChoice c;
  c.visible = visible;
  if (gpus == "cpu" || gpus == "0") {
    c.summary = "CPU (requested with --gpus " + gpus + ")";
    return c;
  }
  int wanted = 0;
  if (gpus == "auto") {
    if (visible == 0) {
      c.summary = "CPU (no CUDA device visible: falling back to the CPU)";
      return c;
    }
    wanted = visible;
  } else if (gpus == "all") {
    require(visible > 0,
            "option --gpus: 'all' asks for GPUs, but no CUDA device is visible. In a container, give it "
            "the GPUs (docker/podman run --gpus all, singularity run --nv); or use --gpus auto (GPUs if "
            "any, else the CPU) or --gpus cpu");
    wanted = visible;
  } else {
    char* end = nullptr;
    long n = std::strtol(gpus.c_str(), &end, 10);
    require(!gpus.empty() && end == gpus.c_str() + gpus.size() && n >= 1,
            "option --gpus: '" + gpus + "' is not 'auto', 'all', 'cpu' or a count of GPUs >= 1");
    require(n <= visible, "option --gpus: asked for " + gpus + " GPU(s) but " +
                              std::to_string(visible) +
                              " CUDA device(s) are visible; use --gpus auto, a smaller count, "
                              "or --gpus cpu");
    wanted = static_cast<int>(n);
  }
  c.device = torch::Device(torch::kCUDA, 0);
  c.num_gpus = wanted;
  c.summary = "CUDA, " + std::to_string(wanted) + " of " + std::to_string(visible) +
              " visible GPU(s)";
  return c;
}

DeviceChoice select_device(const std::string& gpus) {
  // A driver too old for the CUDA runtime is an error that says what to do, before LibTorch
  // would report it as "no GPU" (and fall back to the CPU) or as a stack trace.
  if (gpus != "cpu" && gpus != "0") {
    const auto driver = gpu::check_cuda_driver();
    require(driver.verdict != gpu::DriverCheck::Verdict::too_old, "option --gpus: " + driver.message);
    if (driver.verdict == gpu::DriverCheck::Verdict::older_minor) spdlog::warn("device: {}", driver.message);
  }
  const int visible = static_cast<int>(torch::cuda::device_count());
  DeviceChoice c = choose_device(gpus, visible);
  if (c.device.is_cpu() && gpus == "auto") {
    spdlog::warn("device: {}", c.summary);
  } else {
    spdlog::info("device: {}", c.summary);
  }
  return c;
}

}  // namespace hmb::train
