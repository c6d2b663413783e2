#include <catch2/catch.hpp>

#include "gpu/driver_check.hpp"

using hmb::gpu::check_driver_against_runtime;
using Verdict = hmb::gpu::DriverCheck::Verdict;

TEST_CASE("driver check: no driver means CPU only, not an error", "[gpu][driver]") {
  auto c = check_driver_against_runtime(0, 13000);
  CHECK(c.verdict == Verdict::no_driver);
  CHECK_THAT(c.message, Catch::Contains("no NVIDIA driver"));
}

TEST_CASE("driver check: a CUDA 12 driver under a CUDA 13 runtime is refused with both versions and what to do",
          "[gpu][driver]") {
  auto c = check_driver_against_runtime(12040, 13020);
  CHECK(c.verdict == Verdict::too_old);
  CHECK_THAT(c.message, Catch::Contains("supports CUDA 12.4"));
  CHECK_THAT(c.message, Catch::Contains("CUDA 13.2 runtime"));
  CHECK_THAT(c.message, Catch::Contains("580 or newer"));
  CHECK_THAT(c.message, Catch::Contains("TORCH_VERSION=2.8.0"));
}

TEST_CASE("driver check: an older minor version runs under minor-version compatibility", "[gpu][driver]") {
  auto c = check_driver_against_runtime(13000, 13020);
  CHECK(c.verdict == Verdict::older_minor);
  CHECK_THAT(c.message, Catch::Contains("minor-version compatibility"));
}

TEST_CASE("driver check: an equal or newer driver is fine, also across majors", "[gpu][driver]") {
  CHECK(check_driver_against_runtime(13020, 13020).verdict == Verdict::ok);
  CHECK(check_driver_against_runtime(13000, 12080).verdict == Verdict::ok);
}

TEST_CASE("driver check: a CUDA 11 driver under a CUDA 12 runtime names driver 525", "[gpu][driver]") {
  auto c = check_driver_against_runtime(11080, 12080);
  CHECK(c.verdict == Verdict::too_old);
  CHECK_THAT(c.message, Catch::Contains("525 or newer"));
  CHECK_THAT(c.message, !Catch::Contains("TORCH_VERSION"));
}
