// CUPTI's profiler host API on the CPU, for the chips of the GPUs hep-mlbench knows: every
// quantity hep-mlbench counts exists under one of its names, the configuration is made, and the
// passes it needs fit the GPU check's counter sample. No GPU is needed: the host API works from
// the chip's name alone. (This found that Hopper names its FP16 tensor path differently.)
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include "metrics/cupti_host.hpp"

using namespace hmb::metrics;

namespace {
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
}  // namespace

TEST_CASE("cupti host: every counted quantity exists on the known chips", "[metrics][cupti]") {
  // GH100: H100 and H200; GA100: A100; AD102: L40 and L40S (the peak table's GPUs); GB100 and
  // GB202: the next data-centre and workstation chips.
  const auto chips = CounterHost::supported_chips();
  for (const std::string chip : {"GH100", "GA100", "AD102", "GB100", "GB202"}) {
    INFO("chip " << chip);
    REQUIRE(std::find(chips.begin(), chips.end(), chip) != chips.end());
    CounterHost host;
    const auto why = host.open(chip, nullptr);
    REQUIRE(why.empty());
    CHECK(host.selection().required_missing.empty());
    // The FMA-pipe count and the three tensor-core quantities (FP16, BF16, TF32 sources) exist
    // on all of them: only information-only metrics may be missing.
    for (const auto& missing : host.selection().missing) {
      INFO("missing " << missing);
      CHECK(contains(missing, "hgmma"));
    }
    CHECK_FALSE(host.config().empty());
    // scripts/gpu_check.sh samples one step per pass from timed step 2 and its short window has
    // 10 timed steps in its first epoch: at most 9 passes fit.
    CHECK(host.passes() >= 1);
    CHECK(host.passes() <= 9);
  }
}

TEST_CASE("cupti host: Hopper counts warp-group MMA beside the tensor totals", "[metrics][cupti]") {
  CounterHost host;
  REQUIRE(host.open("GH100", nullptr).empty());
  const auto& names = host.selection().names;
  const auto read = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) != names.end(); };
  CHECK(read("sm__ops_path_tensor_src_fp16.sum"));
  CHECK_FALSE(read("sm__ops_path_tensor_src_fp16_dst_fp32.sum"));
  CHECK(read("sm__ops_path_tensor_op_hgmma_src_bf16_dst_fp32.sum"));
  CHECK(host.selection().missing.empty());
}

TEST_CASE("cupti host: an unknown chip is refused with its name", "[metrics][cupti]") {
  CounterHost host;
  const auto why = host.open("XX999", nullptr);
  CHECK(contains(why, "XX999"));
  CHECK(contains(why, "does not allow counter profiling"));
  CounterValues v;
  CHECK_FALSE(host.evaluate({}, v).empty());
}
