#pragma once
// A folder of this test process's own, hmb-<name>-<pid> in the temporary folder: made empty when
// created, removed with its content when destroyed (also after a failed REQUIRE), unless
// HMB_KEEP_TEST_DIRS is set, which keeps it to look at.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace hmb::testing {

struct TempFolder {
  std::filesystem::path path;
  explicit TempFolder(const std::string& name)
      : path(std::filesystem::temp_directory_path() / ("hmb-" + name + "-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempFolder() {
    if (std::getenv("HMB_KEEP_TEST_DIRS") != nullptr) return;
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
};

}  // namespace hmb::testing
