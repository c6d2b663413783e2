#include <catch2/catch.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <torch/cuda.h>

#include <sstream>

#include "train/device.hpp"
#include "util/error.hpp"

using hmb::train::choose_device;

TEST_CASE("device: --gpus all without a GPU falls back to the CPU and says so", "[device]") {
  auto c = choose_device("all", 0);
  CHECK(c.device.is_cpu());
  CHECK(c.num_gpus == 0);
  CHECK_THAT(c.summary, Catch::Contains("falling back to the CPU"));
}

TEST_CASE("device: GPUs are used when visible", "[device]") {
  auto all = choose_device("all", 4);
  CHECK(all.device.is_cuda());
  CHECK(all.num_gpus == 4);
  auto two = choose_device("2", 4);
  CHECK(two.device.is_cuda());
  CHECK(two.num_gpus == 2);
  CHECK(choose_device("cpu", 4).device.is_cpu());
  CHECK(choose_device("0", 4).device.is_cpu());
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
  auto c = hmb::train::select_device("all");
  spdlog::set_default_logger(previous);

  if (torch::cuda::device_count() == 0) {
    CHECK(c.device.is_cpu());
    CHECK_THAT(captured.str(), Catch::Contains("falling back to the CPU"));
  } else {
    CHECK(c.device.is_cuda());
    CHECK_THAT(captured.str(), Catch::Contains("CUDA"));
  }
}
