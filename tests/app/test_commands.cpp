// The command-line helpers every subcommand shares: whole-number options and repeated options.
#include <catch2/catch.hpp>

#include "app/commands.hpp"

using hmb::app::last_value_wins;
using hmb::app::whole_number_from;
using hmb::app::whole_number_problem;

TEST_CASE("commands: a whole-number option names what is wrong with its value", "[cli]") {
  CHECK_FALSE(whole_number_problem("1", 1, 10).has_value());
  CHECK_FALSE(whole_number_problem("10", 1, 10).has_value());
  CHECK_FALSE(whole_number_problem("18446744073709551615", 0, UINT64_MAX).has_value());
  for (const char* below : {"0", "-1", "x", "", "1.5", " 2", "+2", "0x10"}) {
    INFO(below);
    const auto p = whole_number_problem(below, 1, 10);
    REQUIRE(p.has_value());
    CHECK(*p == "'" + std::string(below) + "' is not a whole number of at least 1");
  }
  for (const char* above : {"11", "99999999999", "18446744073709551616", "999999999999999999999999"}) {
    INFO(above);
    const auto p = whole_number_problem(above, 1, 10);
    REQUIRE(p.has_value());
    CHECK(*p == "'" + std::string(above) + "' is more than this option takes (at most 10)");
  }
  CHECK_THAT(whole_number_problem("18446744073709551616", 0, UINT64_MAX).value_or(""),
             Catch::Contains("at most 18446744073709551615"));
}

TEST_CASE("commands: an int option refuses a value past an int in its own words, and the last of two wins", "[cli]") {
  CLI::App app;
  int copies = 1;
  long events = 0;
  bool debug = false;
  std::vector<std::string> several;
  app.add_option("-c,--copies", copies)->check(whole_number_from(1));
  app.add_option("-e,--events", events)->check(whole_number_from<long>(0));
  app.add_flag("-d", debug);
  app.add_option("--item", several);
  last_value_wins(app);

  app.parse(std::vector<std::string>{"2", "-c", "1", "-c", "-d", "-d"});  // CLI11 reads them from the back
  CHECK(copies == 2);
  CHECK(debug);
  app.parse(std::vector<std::string>{"b", "--item", "a", "--item", "9999999999", "-e"});
  CHECK(events == 9999999999L);
  CHECK(several == std::vector<std::string>{"a", "b"});  // an option of several values keeps them all
  try {
    app.parse(std::vector<std::string>{"99999999999", "-c"});
    FAIL("a count past an int was taken");
  } catch (const CLI::ValidationError& e) {
    CHECK_THAT(e.what(), Catch::Contains("'99999999999' is more than this option takes (at most 2147483647)"));
  }
}
