#include <catch2/catch.hpp>

#include <set>

#include "app/launcher.hpp"

using hmb::app::plan_cores;

TEST_CASE("launcher: ranks get disjoint blocks of cores, NUMA node by NUMA node", "[app][launch]") {
  // 8 cores, nodes interleaved: 0,2,4,6 on node 0 and 1,3,5,7 on node 1.
  const std::vector<int> cpus{0, 1, 2, 3, 4, 5, 6, 7};
  const std::vector<int> node{0, 1, 0, 1, 0, 1, 0, 1};
  auto p = plan_cores(cpus, node, 2, 4);
  REQUIRE(p.size() == 2);
  CHECK(p[0] == std::vector<int>{0, 2, 4, 6});
  CHECK(p[1] == std::vector<int>{1, 3, 5, 7});
  auto q = plan_cores(cpus, node, 4, 2);
  REQUIRE(q.size() == 4);
  std::set<int> seen;
  for (const auto& block : q) {
    CHECK(block.size() == 2);
    for (int c : block) CHECK(seen.insert(c).second);  // no core twice
  }
  CHECK(q[0] == std::vector<int>{0, 2});
}

TEST_CASE("launcher: more threads than cores means shared cores, not a wrong plan", "[app][launch]") {
  const std::vector<int> cpus{0, 1};
  auto p = plan_cores(cpus, {0, 0}, 2, 2);
  REQUIRE(p.size() == 2);
  CHECK(p[0] == cpus);
  CHECK(p[1] == cpus);
  auto one_each = plan_cores(cpus, {0, 0}, 2, 1);
  CHECK(one_each[0] == std::vector<int>{0});
  CHECK(one_each[1] == std::vector<int>{1});
}
