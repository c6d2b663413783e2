#include <catch2/catch.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <torch/cuda.h>

#include <cstdlib>
#include <sstream>

#include "train/device.hpp"
#include "train/gpu_devices.hpp"
#include "util/error.hpp"

using hmb::train::choose_device;

TEST_CASE("device: --gpus auto without a GPU falls back to the CPU and says so", "[device]") {
  auto c = choose_device("auto", 0);
  CHECK(c.device.is_cpu());
  CHECK(c.num_gpus == 0);
  CHECK_THAT(c.summary, Catch::Contains("falling back to the CPU"));
}

TEST_CASE("device: --gpus all without a GPU is an error that says how to give a container its GPUs", "[device]") {
  CHECK_THROWS_WITH(choose_device("all", 0), Catch::Contains("--gpus") && Catch::Contains("no CUDA device is visible") &&
                                                  Catch::Contains("--nv"));
}

TEST_CASE("device: GPUs are used when visible", "[device]") {
  auto all = choose_device("all", 4);
  CHECK(all.device.is_cuda());
  CHECK(all.num_gpus == 4);
  auto any = choose_device("auto", 3);
  CHECK(any.device.is_cuda());
  CHECK(any.num_gpus == 3);
  auto two = choose_device("2", 4);
  CHECK(two.device.is_cuda());
  CHECK(two.num_gpus == 2);
  CHECK(choose_device("cpu", 4).device.is_cpu());
  CHECK(choose_device("0", 4).device.is_cpu());
}

TEST_CASE("device: a launched rank trains on GPU local_rank, or on the one GPU it is bound to", "[device]") {
  using hmb::train::rank_gpu;
  CHECK(rank_gpu(0, 4, 4) == 0);
  CHECK(rank_gpu(3, 4, 4) == 3);
  CHECK(rank_gpu(1, 2, 8) == 1);
  // Slurm --gpus-per-task=1 or a wrapper's CUDA_VISIBLE_DEVICES: each rank sees its own GPU as 0.
  CHECK(rank_gpu(0, 4, 1) == 0);
  CHECK(rank_gpu(3, 4, 1) == 0);
  // Some GPUs, not one per rank: refused, saying what to change.
  CHECK_THROWS_WITH(rank_gpu(2, 4, 2), Catch::Contains("local rank 2 of 4") && Catch::Contains("only 2 GPU(s)") &&
                                           Catch::Contains("--gpus-per-task=1"));
}

TEST_CASE("device: bad --gpus values are refused with the option named", "[device]") {
  CHECK_THROWS_WITH(choose_device("3", 2), Catch::Contains("--gpus") && Catch::Contains("2 CUDA device(s)"));
  CHECK_THROWS_AS(choose_device("many", 2), hmb::Error);
  CHECK_THROWS_AS(choose_device("-1", 2), hmb::Error);
  CHECK_THROWS_AS(choose_device("", 2), hmb::Error);
}

TEST_CASE("device: on this machine the choice matches what LibTorch sees, and is logged", "[device]") {
  std::ostringstream captured;
  auto logger = std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_st>(captured));
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);
  auto c = hmb::train::select_device("auto");
  spdlog::set_default_logger(previous);

  if (torch::cuda::device_count() == 0) {
    CHECK(c.device.is_cpu());
    CHECK_THAT(captured.str(), Catch::Contains("falling back to the CPU"));
  } else {
    CHECK(c.device.is_cuda());
    CHECK_THAT(captured.str(), Catch::Contains("CUDA"));
  }
}

TEST_CASE("device: --gpu-devices lists GPU numbers, separated by , or _", "[device]") {
  using hmb::train::parse_gpu_devices;
  CHECK(parse_gpu_devices("").empty());
  CHECK(parse_gpu_devices("2") == std::vector<int>{2});
  CHECK(parse_gpu_devices("0,2") == std::vector<int>{0, 2});
  CHECK(parse_gpu_devices("3_1") == std::vector<int>{3, 1});
  CHECK_THROWS_WITH(parse_gpu_devices("0,,1"), Catch::Contains("--gpu-devices"));
  CHECK_THROWS_WITH(parse_gpu_devices("0,a"), Catch::Contains("'a' is not a GPU number"));
  CHECK_THROWS_WITH(parse_gpu_devices("1,1"), Catch::Contains("twice"));
  CHECK_THROWS_AS(parse_gpu_devices("-1"), hmb::Error);
}

TEST_CASE("device: --gpu-devices becomes CUDA_VISIBLE_DEVICES, counting the GPUs already visible", "[device]") {
  using hmb::train::visible_devices_for;
  CHECK(visible_devices_for("0_2", nullptr) == "0,2");
  CHECK(visible_devices_for("1", "4,5,6") == "5");
  CHECK(visible_devices_for("0,2", "GPU-aaa,GPU-bbb,GPU-ccc") == "GPU-aaa,GPU-ccc");
  CHECK_THROWS_WITH(visible_devices_for("3", "4,5"), Catch::Contains("GPU 3") && Catch::Contains("CUDA_VISIBLE_DEVICES=4,5"));
  CHECK_THROWS_AS(visible_devices_for("0", ""), hmb::Error);  // nothing visible at all
}

TEST_CASE("device: --gpu-devices is applied once, not again in the ranks a run starts", "[device]") {
  auto restore = [](const char* name, const char* old) {
    if (old != nullptr) ::setenv(name, old, 1); else ::unsetenv(name);
  };
  const char* cvd = std::getenv("CUDA_VISIBLE_DEVICES");
  const char* applied = std::getenv("HMB_GPU_DEVICES_APPLIED");
  const std::string old_cvd = cvd ? cvd : "", old_applied = applied ? applied : "";
  ::setenv("CUDA_VISIBLE_DEVICES", "7,8,9", 1);
  ::unsetenv("HMB_GPU_DEVICES_APPLIED");
  CHECK(hmb::train::apply_gpu_devices("2_0") == "9,7");
  CHECK(std::string(std::getenv("CUDA_VISIBLE_DEVICES")) == "9,7");
  CHECK(hmb::train::apply_gpu_devices("2_0") == "");  // a rank started with this environment
  CHECK(std::string(std::getenv("CUDA_VISIBLE_DEVICES")) == "9,7");
  CHECK(hmb::train::apply_gpu_devices("") == "");
  restore("CUDA_VISIBLE_DEVICES", cvd ? old_cvd.c_str() : nullptr);
  restore("HMB_GPU_DEVICES_APPLIED", applied ? old_applied.c_str() : nullptr);
}
