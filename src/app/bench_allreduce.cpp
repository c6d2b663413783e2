// `hep-mlbench bench --what allreduce`: the all-reduce of the model's gradient size over the
// ranks of a job, as a bandwidth. Timed per iteration between two barriers; the slowest rank's
// time counts. Bus bandwidth follows the usual definition for an all-reduce:
//   algorithm bandwidth = bytes / time,  bus bandwidth = algorithm bandwidth x 2 (N - 1) / N
// so that it compares with the links' speed whatever the number of ranks.
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "app/commands.hpp"
#include "app/launcher.hpp"
#include "dist/launch.hpp"
#include "dist/process_group.hpp"
#include "model/mlpf.hpp"
#include "model/model_config.hpp"
#include "train/device.hpp"
#include "util/error.hpp"

namespace hmb::app {

int bench_allreduce(const AllreduceBench& a) {
  const auto launch = dist::detect_launch();
  if (!launch.multi_rank()) {
    require(a.nproc > 1, "bench --what allreduce: needs several ranks: --nproc N (CPU ranks, this node), or start it "
                         "with torchrun, srun or mpirun");
    LocalLaunch l;
    l.ranks = a.nproc;
    // GPU ranks (NCCL): one per GPU, not pinned to a core each (NCCL's threads share the rank's
    // cores); CPU ranks (Gloo): one core each.
    const int visible = torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
    l.gpus = a.gpus && visible > 0;
    require(!l.gpus || a.nproc <= visible,
            "bench --what allreduce: --nproc " + std::to_string(a.nproc) + " GPU ranks but " + std::to_string(visible) +
                " GPU(s) are visible: at most one rank per GPU (or --gpus cpu for CPU ranks)");
    l.threads_per_rank = l.gpus ? 0 : 1;
    return launch_local(l);
  }
  std::int64_t bytes = static_cast<std::int64_t>(a.mb * 1024 * 1024);
  if (bytes <= 0) {
    model::MLPF net(model::preset(a.preset));
    bytes = net->num_parameters() * 4;
  }
  const bool gpu = a.gpus && torch::cuda::is_available();
  dist::ConnectOptions co;
  co.backend = gpu ? "nccl" : "gloo";
  const int gpu_index =
      gpu ? train::rank_gpu(launch.local_rank, launch.local_world, static_cast<int>(torch::cuda::device_count())) : -1;
  co.device_index = gpu_index;
  co.timeout = std::chrono::seconds(120);
  auto comm = dist::connect(launch, co);
  const auto device = gpu ? torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(gpu_index))
                          : torch::Device(torch::kCPU);
  auto buffer = torch::ones({bytes / 4}, torch::TensorOptions(torch::kFloat).device(device));
  auto sync = [&] {
    if (gpu) torch::cuda::synchronize(static_cast<c10::DeviceIndex>(gpu_index));
  };
  auto time_one = [&] {
    comm->any(false);  // a barrier
    sync();
    const auto t0 = std::chrono::steady_clock::now();
    comm->all_reduce(buffer, dist::ReduceOp::sum);
    sync();
    auto t = torch::tensor({std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()},
                           torch::TensorOptions(torch::kDouble).device(device));
    comm->all_reduce(t, dist::ReduceOp::max);  // the slowest rank's time
    return t.item<double>();
  };
  for (int i = 0; i < 3; ++i) time_one();
  std::vector<double> times;
  for (int i = 0; i < a.iterations; ++i) times.push_back(time_one());
  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2];
  const int n = comm->world();
  const double algbw = static_cast<double>(bytes) / median / 1e9;
  const double busbw = algbw * 2.0 * (n - 1) / n;
  if (comm->rank() == 0)
    std::printf("allreduce  %s, %d ranks, %.2f MB (%s gradients): median %.3f ms (min %.3f, max %.3f) over %d\n"
                "           algorithm bandwidth %.3f GB/s, bus bandwidth %.3f GB/s\n",
                comm->backend().c_str(), n, static_cast<double>(bytes) / 1e6, a.preset.c_str(), 1e3 * median,
                1e3 * times.front(), 1e3 * times.back(), a.iterations, algbw, busbw);
  return 0;
}

}  // namespace hmb::app
