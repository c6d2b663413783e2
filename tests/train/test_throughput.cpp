#include <catch2/catch.hpp>

#include "train/throughput.hpp"

using hmb::train::ThroughputMeter;

TEST_CASE("throughput: warm-up steps are excluded from the timed window", "[throughput]") {
  ThroughputMeter m(3);
  // Three slow warm-up steps (10 s each), then five steps of 0.5 s for 4 events each.
  for (int i = 0; i < 3; ++i) m.add_step(10.0, 4, 1.0);
  for (int i = 0; i < 5; ++i) m.add_step(0.5, 4, 0.1);
  CHECK(m.steps() == 8);
  CHECK(m.timed_steps() == 5);
  CHECK(m.timed_events() == 20);
  CHECK(m.timed_seconds() == Approx(2.5));
  CHECK(m.events_per_second() == Approx(8.0));          // 20 events / 2.5 s, not 32 / 32.5 s
  CHECK(m.timed_data_wait_seconds() == Approx(0.5));
  CHECK(m.timed_step_seconds().size() == 5);
}

TEST_CASE("throughput: a window that never opens reports zero, not a division by zero", "[throughput]") {
  ThroughputMeter m(10);
  for (int i = 0; i < 4; ++i) m.add_step(1.0, 2);
  CHECK(m.timed_steps() == 0);
  CHECK(m.events_per_second() == 0.0);
}

TEST_CASE("throughput: no warm-up counts every step", "[throughput]") {
  ThroughputMeter m(0);
  m.add_step(2.0, 10);
  m.add_step(3.0, 15);
  CHECK(m.events_per_second() == Approx(5.0));
}
