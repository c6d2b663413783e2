// The training pipeline refuses, before training, what the model cannot take.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>

#include "app/pipeline.hpp"
#include "data/event_format.hpp"
#include "util/error.hpp"

using namespace hmb;

TEST_CASE("pipeline: an event larger than the preset can bin is refused, naming it and the limit", "[app][pipeline]") {
  const auto path = (std::filesystem::temp_directory_path() / ("hmb-big-" + std::to_string(::getpid()) + ".h5")).string();
  data::EventTable t;
  auto add = [&t](std::int64_t n, std::int8_t split) {
    std::vector<float> x(static_cast<size_t>(n * data::kXColumns), 0.5f), y(static_cast<size_t>(n * data::kYColumns), 0.0f);
    for (std::int64_t r = 0; r < n; ++r) x[static_cast<size_t>(r * data::kXColumns)] = 1.0f;
    t.append(x.data(), y.data(), n, split);
  };
  add(100, 0);
  add(100, 0);
  add(13000, 0);  // the tiny model bins at most 201 x 64 = 12864 elements
  add(100, 1);
  data::write_event_file(path, t, "{}");
  config::RunConfig cfg;
  cfg.data = path;
  cfg.preset = "tiny";
  cfg.threads = 1;
  cfg.gpus = "cpu";
  CHECK_THROWS_WITH(app::run_training(cfg), Catch::Contains("event 2 has 13000 elements") &&
                                                Catch::Contains("12864") && Catch::Contains("tiny") &&
                                                Catch::Contains(path));
  std::filesystem::remove(path);
}
