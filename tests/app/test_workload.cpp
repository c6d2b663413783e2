// The workload's checks that need no training run.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "app/workload.hpp"

using hmb::app::gpu_sharing_warning;

TEST_CASE("workload: copies sharing a GPU are warned about, CPU copies and one copy are not", "[workload]") {
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

#include <yaml-cpp/yaml.h>

#include <regex>

#include "config/run_config.hpp"
#include "report/summary.hpp"

TEST_CASE("hepscore: the shipped entries name our report and score, and every argument is accepted",
          "[workload][hepscore]") {
  const YAML::Node root = YAML::LoadFile(std::string(HMB_SOURCE_DIR) + "/hepscore/hep-mlbench.yaml");
  const auto benchmarks = root["hepscore"]["benchmarks"];
  REQUIRE(benchmarks.IsMap());
  REQUIRE(benchmarks.size() == 2);
  const auto table = hmb::config::run_options();
  const std::regex hepscore_value("^[a-zA-Z0-9_-]*$");  // what HEPscore lets through
  for (const auto& b : benchmarks) {
    const auto name = b.first.as<std::string>();
    INFO(name);
    CHECK(b.second["results_file"].as<std::string>() == hmb::report::kSummaryFile);
    CHECK(b.second["ref_scores"][hmb::report::kScoreKey].as<double>() > 0);
    YAML::Node run_options(YAML::NodeType::Map);
    for (const auto& arg : b.second["args"]) {
      const auto key = arg.first.as<std::string>();
      const auto value = arg.second.as<std::string>();
      INFO(key << ": " << value);
      CHECK(std::regex_match(value, hepscore_value));
      if (key == "copies" || key == "threads" || key == "events" || key == "debug" || key == "mop" || key == "ncores")
        continue;  // the hep-workloads options of `hep-mlbench workload`
      run_options[key] = value;
    }
    hmb::config::RunConfig cfg;
    CHECK_NOTHROW(table.apply_yaml(cfg, run_options));  // unknown keys and bad values throw
  }
}

#include <sched.h>

#include "util/process.hpp"

// Runs `body` with this thread's CPU affinity narrowed to its first allowed CPU, then restores it.
template <class F>
void on_one_cpu(F body) {
  cpu_set_t saved;
  REQUIRE(sched_getaffinity(0, sizeof saved, &saved) == 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &saved)) {
      CPU_SET(c, &one);
      break;
    }
  REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);
  body();
  REQUIRE(sched_setaffinity(0, sizeof saved, &saved) == 0);
}

TEST_CASE("workload: threads per copy come from the cores this process may run on, not the machine's",
          "[workload]") {
  hmb::app::WorkloadOptions opt;
  opt.copies = 1;
  opt.threads = 0;
  CHECK(hmb::app::workload_run_info(opt).threads_per_copy == hmb::allowed_cpu_count());
  // Under taskset -c N, a cgroup cpuset or a Slurm allocation HEPscore passes no --ncores.
  on_one_cpu([&] { CHECK(hmb::app::workload_run_info(opt).threads_per_copy == 1); });
  opt.ncores = 6;  // --ncores wins over the mask
  opt.copies = 2;
  on_one_cpu([&] { CHECK(hmb::app::workload_run_info(opt).threads_per_copy == 3); });
  opt.threads = 5;  // and --threads over both
  CHECK(hmb::app::workload_run_info(opt).threads_per_copy == 5);
}

TEST_CASE("workload: the files the copies read, from their options and from a --config file", "[workload]") {
  using hmb::app::copy_input_files;
  using Catch::Matchers::UnorderedEquals;
  namespace fs = std::filesystem;
  CHECK(copy_input_files({}).empty());
  CHECK_THAT(copy_input_files({"--preset", "tiny", "--data", "a.h5", "--init-weights=w.pt", "--trace", "t.json"}),
             UnorderedEquals(std::vector<std::string>{"a.h5", "w.pt", "t.json"}));
  CHECK(copy_input_files({"--data"}).empty());             // no value: nothing (the copy says why)
  CHECK(copy_input_files({"--database", "x"}).empty());    // only whole option names
  CHECK(copy_input_files({"--data-file=x"}).empty());
  const fs::path dir = fs::temp_directory_path() / ("hmb-copy-inputs-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string yaml = (dir / "c.yaml").string();
  std::ofstream(yaml) << "preset: tiny\ndata: /r/events.h5\ninit-weights: /r/final_weights.pt\nepochs: 2\n";
  CHECK_THAT(copy_input_files({"--config", yaml, "--trace", "t.json"}),
             UnorderedEquals(std::vector<std::string>{yaml, "/r/events.h5", "/r/final_weights.pt", "t.json"}));
  const std::string broken = (dir / "broken.yaml").string();
  std::ofstream(broken) << "data: [unclosed\n";
  CHECK_THAT(copy_input_files({"--config=" + broken}), UnorderedEquals(std::vector<std::string>{broken}));
  CHECK_THAT(copy_input_files({"--config", (dir / "missing.yaml").string()}),
             UnorderedEquals(std::vector<std::string>{(dir / "missing.yaml").string()}));
  fs::remove_all(dir);
}
