#include <catch2/catch.hpp>
#include <c10/util/Exception.h>

#include <new>

#include "train/failure.hpp"

using namespace hmb::train;

namespace {
FailureContext gpu_ctx() { return FailureContext{"training", 12, 10, "delphes", "a 40 GiB NVIDIA A100 (GPU 0)"}; }
}  // namespace

TEST_CASE("failure: CUDA out of memory says what to lower, at which batch size, on which GPU", "[train][failure]") {
  const c10::OutOfMemoryError oom(c10::SourceLocation{"f", "file.cpp", 1},
                                  "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 40 GiB");
  CHECK(is_out_of_memory(oom));
  const auto m = explain_failure(oom, gpu_ctx());
  CHECK_THAT(m, Catch::StartsWith("out of memory in training at step 12 with batch size 10"));
  CHECK_THAT(m, Catch::Contains("a 40 GiB NVIDIA A100") && Catch::Contains("lower --batch-size") &&
                    Catch::Contains("delphes"));
  CHECK_THAT(m, !Catch::Contains("Exception raised from"));
}

TEST_CASE("failure: the CPU allocator and std::bad_alloc are out-of-memory too", "[train][failure]") {
  const c10::Error cpu(c10::SourceLocation{"f", "file.cpp", 1},
                       "DefaultCPUAllocator: can't allocate memory: you tried to allocate 9000000000 bytes.");
  CHECK(is_out_of_memory(cpu));
  CHECK(is_out_of_memory(std::bad_alloc()));
  FailureContext ctx{"validation", 0, 1, "small", "the CPU (24 GiB host memory)"};
  const auto m = explain_failure(std::bad_alloc(), ctx);
  CHECK_THAT(m, Catch::StartsWith("out of memory in validation with batch size 1"));
  CHECK_THAT(m, Catch::Contains("use a smaller --preset"));
}

TEST_CASE("failure: other errors keep their message, without LibTorch's backtrace", "[train][failure]") {
  const std::runtime_error e("shape mismatch: [4, 12] vs [4, 13]\nException raised from foo at bar.cpp:1 (most recent call first):\nframe #0 ...");
  CHECK_FALSE(is_out_of_memory(e));
  const auto m = explain_failure(e, gpu_ctx());
  CHECK(m == "training failed at step 12: shape mismatch: [4, 12] vs [4, 13]");
}
