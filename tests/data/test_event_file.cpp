#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>

#include "data/generator.hpp"
#include "util/error.hpp"

using namespace hmb::data;

TEST_CASE("event file: write, read back, validate, checksum", "[data][format]") {
  GeneratorConfig c;
  c.events = 3;
  c.threads = 1;
  auto t = generate_events(c);
  const auto path = (std::filesystem::temp_directory_path() / ("hmb-rt-" + std::to_string(::getpid()) + ".h5")).string();
  write_event_file(path, t, generator_source_json(c));
  EventFileInfo info;
  auto back = read_event_file(path, &info, true);
  CHECK(back.X == t.X);
  CHECK(back.ygen == t.ygen);
  CHECK(back.offsets == t.offsets);
  CHECK(back.split == t.split);
  CHECK(info.checksum == content_checksum(t));
  CHECK(info.checksum_verified);
  CHECK(info.n_train == 2);
  CHECK(info.n_validation == 1);
  CHECK_THAT(info.source_json, Catch::Contains("\"seed\""));
  // No temporary file is left beside it.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::filesystem::temp_directory_path()))
    files += e.path().string().rfind(path + ".tmp", 0) == 0;
  CHECK(files == 0);

  // Truncated: refused, naming the file.
  const auto cut = path + ".cut.h5";
  std::filesystem::copy_file(path, cut, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(cut, std::filesystem::file_size(cut) / 2);
  CHECK_THROWS_WITH(read_event_file(cut), Catch::Contains(cut));
  // Missing.
  CHECK_THROWS_WITH(read_event_file(path + ".missing"), Catch::Contains("does not exist"));
  // Not HDF5 at all.
  const auto junk = path + ".junk";
  std::ofstream(junk) << "not an hdf5 file";
  CHECK_THROWS_WITH(read_event_file(junk), Catch::Contains("not an HDF5 file"));
  for (const auto& p : {path, cut, junk}) std::filesystem::remove(p);
}

TEST_CASE("event file: an empty split is refused", "[data][format]") {
  EventTable t;
  std::vector<float> x(12, 1.0f), y(7, 0.0f);
  t.append(x.data(), y.data(), 1, 0);
  t.append(x.data(), y.data(), 1, 0);
  const auto path = (std::filesystem::temp_directory_path() / ("hmb-empty-" + std::to_string(::getpid()) + ".h5")).string();
  write_event_file(path, t, "{}");
  CHECK_THROWS_WITH(read_event_file(path), Catch::Contains("/split") && Catch::Contains("no validation events"));
  std::filesystem::remove(path);
}

TEST_CASE("event file: element types other than tower/track and class labels outside 0..5 are refused", "[data][format]") {
  const auto path = (std::filesystem::temp_directory_path() / ("hmb-labels-" + std::to_string(::getpid()) + ".h5")).string();
  auto table_with = [](float type, float cls) {
    EventTable t;
    std::vector<float> x(2 * kXColumns, 1.0f), y(2 * kYColumns, 0.0f);
    t.append(x.data(), y.data(), 2, 0);
    x[kXColumns + xcol::type] = type;    // event 1, row 1
    y[kYColumns + ycol::cls] = cls;
    t.append(x.data(), y.data(), 2, 1);
    return t;
  };
  write_event_file(path, table_with(1.0f, 5.0f), "{}");
  CHECK_NOTHROW(read_event_file(path));
  write_event_file(path, table_with(3.0f, 1.0f), "{}");
  CHECK_THROWS_WITH(read_event_file(path), Catch::Contains("/X") && Catch::Contains("element type 3") &&
                                               Catch::Contains("row 3") && Catch::Contains("event 1"));
  write_event_file(path, table_with(2.0f, 6.0f), "{}");
  CHECK_THROWS_WITH(read_event_file(path), Catch::Contains("/ygen") && Catch::Contains("class label 6") &&
                                               Catch::Contains("event 1") && Catch::Contains("0..5"));
  write_event_file(path, table_with(2.0f, 1.5f), "{}");
  CHECK_THROWS_WITH(read_event_file(path), Catch::Contains("class label 1.5"));
  std::filesystem::remove(path);
}

namespace {
// While this guard lives, no file of this process may grow beyond `bytes`: a write past that fails
// as on a full disk (EFBIG; SIGXFSZ, which would end the process, is ignored meanwhile).
struct FileSizeLimit {
  rlimit before{};
  void (*old_handler)(int) = nullptr;
  explicit FileSizeLimit(rlim_t bytes) {
    REQUIRE(getrlimit(RLIMIT_FSIZE, &before) == 0);
    old_handler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit small = before;
    small.rlim_cur = bytes;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &before);
    std::signal(SIGXFSZ, old_handler);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;
};
}  // namespace

TEST_CASE("event file: a write that fails names the file and leaves no temporary file", "[data][format]") {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / ("hmb-failed-write-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  EventTable t;
  std::vector<float> x(20000 * kXColumns, 1.0f), y(20000 * kYColumns, 0.0f);  // about 1.5 MB
  t.append(x.data(), y.data(), 10000, 0);
  t.append(x.data(), y.data(), 10000, 1);
  // Cannot be created, whoever runs this (root too): its folder is a regular file.
  std::ofstream(dir / "plain") << "not a folder";
  const auto under_file = (dir / "plain" / "e.h5").string();
  CHECK_THROWS_WITH(write_event_file(under_file, t, "{}"),
                    Catch::Contains(under_file) && Catch::Contains("is not a folder") && Catch::Contains("--output"));
  // A folder of that name: refused before writing, as a rename could not take its place.
  fs::create_directories(dir / "taken.h5" / "inside");
  const auto taken = (dir / "taken.h5").string();
  CHECK_THROWS_WITH(write_event_file(taken, t, "{}"), Catch::Contains(taken) && Catch::Contains("is a folder"));
  // Fails while writing, as on a full disk: here the file-size limit, named as the cause.
  const auto full = (dir / "full.h5").string();
  {
    const FileSizeLimit limit(64 * 1024);
    CHECK_THROWS_WITH(write_event_file(full, t, "{}"), Catch::Contains(full) && Catch::Contains("HDF5 failed") &&
                                                           Catch::Contains("File too large") &&
                                                           Catch::Contains("ulimit -f"));
  }
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dir)) left.push_back(e.path().filename().string());
  std::sort(left.begin(), left.end());
  CHECK(left == std::vector<std::string>{"plain", "taken.h5"});
  fs::remove_all(dir);
}
