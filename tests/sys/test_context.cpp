#include <catch2/catch.hpp>

#include "sys/context.hpp"

using namespace hmb::sys;

TEST_CASE("context: /proc/cpuinfo of a two-socket machine", "[sys]") {
  std::string text;
  int proc = 0;
  for (int socket = 0; socket < 2; ++socket)
    for (int core = 0; core < 4; ++core)
      for (int thread = 0; thread < 2; ++thread)
        text += "processor\t: " + std::to_string(proc++) + "\nmodel name\t: Example CPU 9000 @ 2.0GHz\nphysical id\t: " +
                std::to_string(socket) + "\ncore id\t\t: " + std::to_string(core) + "\n\n";
  const auto c = parse_cpuinfo(text);
  CHECK(c.model == "Example CPU 9000 @ 2.0GHz");
  CHECK(c.logical_cores == 16);
  CHECK(c.physical_cores == 8);
  CHECK(c.sockets == 2);
}

TEST_CASE("context: Arm cpuinfo without model name or topology", "[sys]") {
  const auto c = parse_cpuinfo("processor\t: 0\nBogoMIPS\t: 50.00\n\nprocessor\t: 1\nBogoMIPS\t: 50.00\n\nModel\t: Board X\n");
  CHECK(c.logical_cores == 2);
  CHECK(c.model == "Board X");
  CHECK(c.physical_cores == 0);
}

TEST_CASE("context: MemTotal in GiB", "[sys]") {
  CHECK(parse_meminfo_total_gib("MemFree: 10 kB\nMemTotal:       25165824 kB\n") == Approx(24.0));
  CHECK(parse_meminfo_total_gib("nothing\n") == 0.0);
}

TEST_CASE("context: this machine, in the report's words", "[sys]") {
  const auto c = collect_context();
  CHECK(c.cpu.logical_cores > 0);
  CHECK(c.usable_cores > 0);
  CHECK(c.host_memory_gib > 0.1);
  const auto j = to_json(c);
  CHECK(j["logical_cores"] == c.cpu.logical_cores);
  CHECK(j["gpus"].size() == c.gpus.size());
  const auto lines = describe(c);
  REQUIRE(lines.size() >= 3);
  CHECK_THAT(lines[0], Catch::Contains(c.cpu.model));
  if (c.gpus.empty()) {
    CHECK(lines.size() == 3);
    CHECK_THAT(lines[2], Catch::Contains("none visible"));
  } else {  // a line per GPU, naming it
    REQUIRE(lines.size() == 2 + c.gpus.size());
    for (size_t i = 0; i < c.gpus.size(); ++i) CHECK_THAT(lines[2 + i], Catch::Contains(c.gpus[i].name));
  }
}
