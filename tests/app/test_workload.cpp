// The workload's checks that need no training run.
#include <catch2/catch.hpp>

#include "app/workload.hpp"

using hmb::app::gpu_sharing_warning;

TEST_CASE("workload: copies sharing a GPU are warned about; CPU copies and one copy are not", "[workload]") {
  const std::vector<std::string> none;
  const auto shared = gpu_sharing_warning(2, none, 1);
  REQUIRE(shared.has_value());
  CHECK_THAT(*shared, Catch::Contains("2 copies share GPU 0") && Catch::Contains("--copies 1"));
  CHECK(gpu_sharing_warning(4, none, 8).has_value());  // every copy still trains on GPU 0
  CHECK_FALSE(gpu_sharing_warning(1, none, 1).has_value());
  CHECK_FALSE(gpu_sharing_warning(2, none, 0).has_value());
  CHECK_FALSE(gpu_sharing_warning(2, {"--preset", "tiny", "--gpus", "cpu"}, 2).has_value());
  CHECK_FALSE(gpu_sharing_warning(2, {"--gpus", "0"}, 2).has_value());
  CHECK(gpu_sharing_warning(2, {"--gpus", "all"}, 2).has_value());
}
