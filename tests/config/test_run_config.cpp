// The training run's real option table (run_options()): the checks behind its options, through
// the command line as users give them.
#include <catch2/catch.hpp>

#include <algorithm>

#include "config/run_config.hpp"
#include "util/process.hpp"

using hmb::config::RunConfig;

namespace {
RunConfig parse(std::vector<std::string> args) {
  auto table = hmb::config::run_options();
  CLI::App app;
  RunConfig cfg;
  table.attach(app, cfg);
  std::reverse(args.begin(), args.end());  // CLI11 takes the vector in reverse order
  app.parse(args);
  table.apply(cfg);
  return cfg;
}
}  // namespace

TEST_CASE("run options: thread counts up to 4 per core of this machine", "[config][run]") {
  const int most = 4 * hmb::online_cpu_count();
  const auto over = std::to_string(most + 1);
  CHECK(parse({"--threads", std::to_string(most)}).threads == most);
  CHECK(parse({"--threads", "0"}).threads == 0);
  CHECK_THROWS_WITH(parse({"--threads", over}),
                    Catch::Contains("--threads") && Catch::Contains("'" + over + "'") &&
                        Catch::Contains("threads per core") && Catch::Contains("at most " + std::to_string(most)) &&
                        Catch::Contains("(or 0: all cores)"));
  CHECK(parse({"--loader-threads", std::to_string(most)}).loader_threads == most);
  CHECK_THROWS_WITH(parse({"--loader-threads", over}),
                    Catch::Contains("--loader-threads") && Catch::Contains("threads per core") &&
                        !Catch::Contains("or 0"));  // 0 loader threads is not a choice
  CHECK_THROWS_WITH(parse({"--loader-threads", "0"}),
                    Catch::Contains("--loader-threads") && Catch::Contains("must be at least 1"));
}

TEST_CASE("run options: --gpu-devices takes distinct GPU numbers", "[config][run]") {
  CHECK(parse({"--gpu-devices", "0_2"}).gpu_devices == "0_2");
  CHECK(parse({"--gpu-devices", "1,0"}).gpu_devices == "1,0");
  for (const std::string bad : {"0,,1", "0,0", "a", "-1"}) {
    CAPTURE(bad);
    CHECK_THROWS_WITH(parse({"--gpu-devices=" + bad}),
                      Catch::Contains("--gpu-devices") && Catch::Contains("'" + bad + "'") &&
                          Catch::Contains("is not a list of distinct GPU numbers such as 0,1"));
  }
}

TEST_CASE("run options: rates, timeouts and sizes must be positive", "[config][run]") {
  CHECK(parse({"--lr", "0.5"}).lr == 0.5);
  for (const std::string option : {"--lr", "--dist-timeout", "--bucket-mb"}) {
    for (const std::string bad : {"0", "-1"}) {
      CAPTURE(option, bad);
      CHECK_THROWS_WITH(parse({option + "=" + bad}), Catch::Contains(option) && Catch::Contains("must be positive"));
    }
  }
}

TEST_CASE("run options: --lr-scaling and --dist-backend name their choices", "[config][run]") {
  CHECK(parse({"--lr-scaling", "sqrt"}).lr_scaling == "sqrt");
  CHECK(parse({"--dist-backend", "gloo"}).dist_backend == "gloo");
  CHECK_THROWS_WITH(parse({"--lr-scaling", "cubic"}),
                    Catch::Contains("--lr-scaling") && Catch::Contains("'cubic'") && Catch::Contains("none|linear|sqrt"));
  CHECK_THROWS_WITH(parse({"--dist-backend", "mpi"}),
                    Catch::Contains("--dist-backend") && Catch::Contains("'mpi'") && Catch::Contains("auto|gloo|nccl"));
}
