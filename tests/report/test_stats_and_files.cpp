#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "report/stats.hpp"
#include "util/atomic_file.hpp"
#include "util/error.hpp"

namespace fs = std::filesystem;

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

TEST_CASE("atomic file: replaces the old content whole and leaves no temporary", "[report]") {
  auto dir = fs::temp_directory_path() / ("hmb-atomic-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto path = (dir / "summary.json").string();
  hmb::write_file_atomic(path, "old");
  hmb::write_file_atomic(path, "new content");
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text == "new content");
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) { (void)e; ++files; }
  CHECK(files == 1);
  fs::remove_all(dir);
}

TEST_CASE("atomic file: an unwritable folder is refused with its name", "[report]") {
  if (::geteuid() == 0) {
    // root writes anywhere; use a path under a regular file instead, which nobody can create
    auto f = fs::temp_directory_path() / ("hmb-notadir-" + std::to_string(::getpid()));
    std::ofstream(f) << "x";
    CHECK_THROWS_WITH(hmb::ensure_writable_dir((f / "results").string()),
                      Catch::Contains((f / "results").string()) && Catch::Contains("--results"));
    CHECK_THROWS_AS(hmb::write_file_atomic((f / "x.json").string(), "{}"), hmb::Error);
    fs::remove(f);
  } else {
    auto d = fs::temp_directory_path() / ("hmb-ro-" + std::to_string(::getpid()));
    fs::create_directories(d);
    ::chmod(d.c_str(), 0555);
    CHECK_THROWS_WITH(hmb::ensure_writable_dir(d.string()), Catch::Contains("not writable"));
    ::chmod(d.c_str(), 0755);
    fs::remove_all(d);
  }
}
