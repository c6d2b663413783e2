#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "train/determinism.hpp"
#include "util/sha256.hpp"

TEST_CASE("sha256: known answers", "[checksum]") {
  hmb::Sha256 empty;
  CHECK(empty.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  hmb::Sha256 abc;
  abc.update("abc");
  CHECK(abc.hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("determinism: the same seed gives the same weights checksum, another seed not", "[determinism]") {
  auto make = [](std::uint64_t seed) {
    hmb::train::configure_determinism(seed, true, hmb::train::Precision::fp32, 0, torch::kCPU);
    torch::nn::Linear l(12, 8);
    std::vector<std::pair<std::string, torch::Tensor>> named;
    for (const auto& p : l->named_parameters()) named.emplace_back(p.key(), p.value());
    return hmb::train::tensors_checksum(named);
  };
  const auto a = make(7), b = make(7), c = make(8);
  CHECK(a.size() == 64);
  CHECK(a == b);
  CHECK(a != c);
}

TEST_CASE("determinism: reduced precision on CUDA is reported as not bit-for-bit", "[determinism]") {
  auto r = hmb::train::configure_determinism(1, true, hmb::train::Precision::bf16, 0, torch::Device(torch::kCUDA, 0));
  CHECK_FALSE(r.deterministic);
  CHECK_THAT(r.notes, Catch::Contains("bf16"));
  auto off = hmb::train::configure_determinism(1, false, hmb::train::Precision::fp32, 0, torch::kCPU);
  CHECK_FALSE(off.deterministic);
  auto on = hmb::train::configure_determinism(1, true, hmb::train::Precision::fp32, 0, torch::kCPU);
  CHECK(on.deterministic);
  CHECK(at::globalContext().deterministicAlgorithms());
}

TEST_CASE("determinism: denormal floats flushed to zero or kept, as asked, and told apart", "[determinism]") {
  const int threads = at::get_num_threads();
  // 2^-128 times 3, as bits: 3 * 2^-128 (0x00600000) kept, 0 flushed.
  auto times_three = [] {
    return (torch::full({4}, 0x00200000, torch::kInt32).view(torch::kFloat) * 3.0F).view(torch::kInt32)[0].item<int>();
  };
  SECTION("one thread: the mode set is the mode in force") {
    at::set_num_threads(1);
    hmb::train::set_denormal_mode(true);
    CHECK(hmb::train::denormal_mode() == "flushed");
    CHECK(times_three() == 0);
    hmb::train::set_denormal_mode(false);
    CHECK(hmb::train::denormal_mode() == "kept");
    CHECK(times_three() == 0x00600000);
  }
  SECTION("two threads: a worker started before the mode was set keeps the old one, and that is seen") {
    at::set_num_threads(2);
    // The pool's second thread exists after this (started keeping them, unless an earlier test
    // started it flushing them: then this thread alone keeps them).
    hmb::train::set_denormal_mode(false);
    const std::string before = hmb::train::denormal_mode();
    REQUIRE((before == "kept" || before == "mixed"));
    hmb::train::set_denormal_mode(true);
    CHECK(hmb::train::denormal_mode() == (before == "kept" ? "mixed" : "flushed"));
    hmb::train::set_denormal_mode(false);
  }
  at::set_num_threads(threads);
}
