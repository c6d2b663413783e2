#include <catch2/catch.hpp>

#include "report/stats.hpp"

TEST_CASE("stats: avg, median, min, max, count", "[report]") {
  auto s = hmb::report::summarize({4.0, 1.0, 3.0, 2.0});
  CHECK(s.count == 4);
  CHECK(s.avg == Approx(2.5));
  CHECK(s.median == Approx(2.5));
  CHECK(s.min == 1.0);
  CHECK(s.max == 4.0);
  auto odd = hmb::report::summarize({5.0, 1.0, 9.0});
  CHECK(odd.median == 5.0);
  CHECK(hmb::report::summarize({}).count == 0);
  auto j = hmb::report::to_json(odd);
  CHECK(j["count"] == 3);
  CHECK(j["max"] == 9.0);
}
