// The training pipeline refuses, before training, what the model, the device or the event file
// cannot take; and the rules it applies for several ranks.
#include <catch2/catch.hpp>

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "app/pipeline.hpp"
#include "data/event_format.hpp"
#include "util/error.hpp"
#include "util/process.hpp"

using namespace hmb;

namespace {
std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("hmb-" + name + "-" + std::to_string(::getpid()) + ".h5")).string();
}

// Writes events of the given element counts and splits (0 train, 1 validation) to `path`.
void write_events(const std::string& path, const std::vector<std::pair<std::int64_t, std::int8_t>>& events) {
  data::EventTable t;
  for (const auto& [n, split] : events) {
    std::vector<float> x(static_cast<size_t>(n * data::kXColumns), 0.5f), y(static_cast<size_t>(n * data::kYColumns), 0.0f);
    for (std::int64_t r = 0; r < n; ++r) x[static_cast<size_t>(r * data::kXColumns)] = 1.0f;
    t.append(x.data(), y.data(), n, split);
  }
  data::write_event_file(path, t, "{}");
}

config::RunConfig cpu_run(const std::string& data) {
  config::RunConfig cfg;
  cfg.data = data;
  cfg.preset = "tiny";
  cfg.threads = 1;
  cfg.gpus = "cpu";
  return cfg;
}
}  // namespace

TEST_CASE("pipeline: an event larger than the preset can bin is refused, naming it and the limit", "[app][pipeline]") {
  const auto path = temp_path("big");
  // the tiny model bins at most 201 x 64 = 12864 elements
  write_events(path, {{100, 0}, {100, 0}, {13000, 0}, {100, 1}});
  CHECK_THROWS_WITH(app::run_training(cpu_run(path)), Catch::Contains("event 2 has 13000 elements") &&
                                                          Catch::Contains("12864") && Catch::Contains("tiny") &&
                                                          Catch::Contains(path));
  std::filesystem::remove(path);
}

TEST_CASE("pipeline: low precision on the CPU, no event file, a batch larger than the split are refused", "[app][pipeline]") {
  const auto path = temp_path("three");
  write_events(path, {{50, 0}, {50, 0}, {50, 0}, {50, 1}});  // 3 training events
  auto bf16 = cpu_run(path);
  bf16.precision = "bf16";
  CHECK_THROWS_WITH(app::run_training(bf16), Catch::Contains("--precision") && Catch::Contains("'bf16'") &&
                                                 Catch::Contains("needs a CUDA device") &&
                                                 Catch::Contains("--precision fp32"));
  CHECK_THROWS_WITH(app::run_training(cpu_run("")),
                    Catch::Contains("--data") && Catch::Contains("hep-mlbench generate"));
  auto big_batch = cpu_run(path);
  big_batch.batch_size = 4;
  CHECK_THROWS_WITH(app::run_training(big_batch), Catch::Contains("--batch-size") &&
                                                      Catch::Contains("4 events per rank") &&
                                                      Catch::Contains("3 training events"));
  std::filesystem::remove(path);
}

TEST_CASE("pipeline: --lr-scaling multiplies the learning rate by the ranks or their square root", "[app][pipeline]") {
  CHECK(app::detail::lr_factor("none", 4) == 1.0);
  CHECK(app::detail::lr_factor("linear", 4) == 4.0);
  CHECK(app::detail::lr_factor("sqrt", 4) == 2.0);
  CHECK(app::detail::lr_factor("sqrt", 1) == 1.0);
}

TEST_CASE("pipeline: a rank's CPU threads are --threads, else its share of the cores", "[app][pipeline]") {
  dist::LaunchInfo one;
  dist::LaunchInfo two;
  two.world = two.local_world = 2;
  CHECK(app::detail::threads_for_rank(3, one) == 3);
  CHECK(app::detail::threads_for_rank(0, one) == 0);  // one rank: LibTorch's own default
  CHECK(app::detail::threads_for_rank(3, two) == 3);
  cpu_set_t all;
  REQUIRE(sched_getaffinity(0, sizeof all, &all) == 0);
  const int online = online_cpu_count();
  if (CPU_COUNT(&all) < online) {  // started pinned (taskset, a batch system): its cores are its own
    CHECK(app::detail::threads_for_rank(0, two) == CPU_COUNT(&all));
  } else {  // the node's cores are shared among its ranks
    CHECK(app::detail::threads_for_rank(0, two) == std::max(1, online / 2));
    dist::LaunchInfo crowded;
    crowded.world = crowded.local_world = 2 * online;
    CHECK(app::detail::threads_for_rank(0, crowded) == 1);
  }
  if (CPU_COUNT(&all) >= 2) {
    // Pinned by a launcher to all of them but one: the rank keeps those cores (with 3 or more,
    // sharing them would give half as many).
    cpu_set_t fewer = all;
    for (int c = CPU_SETSIZE - 1; c >= 0; --c)
      if (CPU_ISSET(c, &fewer)) {
        CPU_CLR(c, &fewer);
        break;
      }
    REQUIRE(sched_setaffinity(0, sizeof fewer, &fewer) == 0);
    const int pinned = app::detail::threads_for_rank(0, two);
    sched_setaffinity(0, sizeof all, &all);
    CHECK(pinned == CPU_COUNT(&fewer));
  }
}

TEST_CASE("pipeline: a rank's row of the gathered table reads back as its record, figure by figure", "[app][pipeline]") {
  using hmb::metrics::Figure;
  hmb::train::RunResult r;
  r.timed_events = 40;  // over 2 ranks: 20 of them this rank's
  r.timed_s = 4.0;
  r.data_wait_fraction = 0.25;
  r.peak_rss_mb = 512;
  for (int i = 0; i < 3; ++i) {
    hmb::train::StepRecord st;
    st.timed = true;
    st.step_s = 1.0 + i;
    st.comm_s = 0.1 * (i + 1);
    st.exposed_comm_s = 0.01 * (i + 1);
    r.steps.push_back(st);
  }
  auto& u = r.utilisation;
  u.cpu_busy_cores = Figure::of(1.5, "cores");
  u.gpu_busy_fraction = Figure::of(0.8, "fraction");
  u.gpu_energy = Figure::of(900, "J");
  u.gpu_mean_power = Figure::of(300, "W");
  u.gpu_max_power = Figure::of(350, "W");
  u.gpu_sm_clock = Figure::of(1800, "MHz");
  u.gpu_temperature_max = Figure::of(61, "degC");
  u.gpu_memory_used_peak = Figure::of(2048, "MiB");
  const auto rr = hmb::app::detail::rank_record(1, hmb::app::detail::rank_row(r, 2));
  CHECK(rr.rank == 1);
  CHECK(rr.events_per_s == Approx(5.0));  // 20 events in 4 s
  CHECK(rr.timed_s == Approx(4.0));
  CHECK(rr.step_s_median == Approx(2.0));
  CHECK(rr.comm_s == Approx(0.2));
  CHECK(rr.exposed_comm_s == Approx(0.02));
  CHECK(rr.data_wait_fraction == Approx(0.25));
  CHECK(rr.peak_rss_mb == Approx(512));
  CHECK(*rr.cpu_busy_cores == Approx(1.5));
  CHECK(*rr.gpu.busy_fraction == Approx(0.8));
  CHECK(*rr.gpu.energy_j == Approx(900));
  CHECK(*rr.gpu.mean_power_w == Approx(300));
  CHECK(*rr.gpu.max_power_w == Approx(350));
  CHECK(*rr.gpu.sm_clock_mhz == Approx(1800));
  CHECK(*rr.gpu.temperature_max_c == Approx(61));
  CHECK(*rr.gpu.memory_used_peak_mib == Approx(2048));
  // A figure the rank does not have travels as NaN and comes back absent.
  u.gpu_sm_clock = Figure::absent("MHz", "no GPU");
  CHECK_FALSE(hmb::app::detail::rank_record(0, hmb::app::detail::rank_row(r, 2)).gpu.sm_clock_mhz);
}
