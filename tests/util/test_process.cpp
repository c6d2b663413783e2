#include <catch2/catch.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "util/error.hpp"
#include "util/process.hpp"

namespace fs = std::filesystem;

TEST_CASE("process: throw_if_stopped says which signal and where, as Interrupted", "[util][signals]") {
  hmb::request_stop(0);
  CHECK_NOTHROW(hmb::throw_if_stopped("while reading"));
  hmb::request_stop(SIGTERM);
  CHECK_THROWS_AS(hmb::throw_if_stopped("while reading"), hmb::Interrupted);
  CHECK_THROWS_WITH(hmb::throw_if_stopped("while reading"),
                    Catch::Contains("signal " + std::to_string(SIGTERM)) && Catch::Contains("while reading"));
  hmb::request_stop(0);
}

namespace {
// Runs `child` in a forked process and returns its wait status.
template <class F>
int in_child(F child) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    child();
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

fs::path temp_file(const char* name) {
  const fs::path p = fs::temp_directory_path() / (std::string("hmb-test-") + std::to_string(::getpid()) + "-" + name);
  std::ofstream(p) << "half-written";
  return p;
}
}  // namespace

TEST_CASE("process: a second stop signal ends the process at once and removes registered files", "[util][signals]") {
  const auto tmp = temp_file("forced");
  const auto kept = temp_file("kept");
  const int status = in_child([&] {
    hmb::request_stop(0);
    hmb::install_stop_handlers();
    hmb::remove_on_forced_exit(tmp.string());
    hmb::remove_on_forced_exit(kept.string());
    hmb::forget_on_forced_exit(kept.string());  // finished: no longer removed
    ::raise(SIGTERM);
    if (hmb::stop_requested() != SIGTERM) ::_exit(10);  // the first signal only asks to stop
    ::raise(SIGINT);  // the same stop delivered twice at once: still running
    std::this_thread::sleep_for(std::chrono::duration<double>(hmb::kForceExitAfterSeconds + 0.3));
    ::raise(SIGINT);  // a user insisting
    ::_exit(11);      // not reached
  });
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 128 + SIGINT);
  CHECK_FALSE(fs::exists(tmp));
  CHECK(fs::exists(kept));
  fs::remove(kept);
}

TEST_CASE("process: one stop signal never ends the process by itself", "[util][signals]") {
  const int status = in_child([] {
    hmb::request_stop(0);
    hmb::install_stop_handlers();
    ::raise(SIGTERM);
    ::raise(SIGTERM);
    ::_exit(hmb::stop_requested() == SIGTERM ? 7 : 8);
  });
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 7);
}

TEST_CASE("process: reset_peak_rss starts a new peak, which peak_rss_mb then reports", "[util]") {
  // In a child process, so that this process's own peak is left alone. Exit 0: as expected.
  const int status = in_child([] {
    const double before = hmb::peak_rss_mb();
    {
      std::vector<char> block(std::size_t{256} << 20);
      for (std::size_t i = 0; i < block.size(); i += 4096) block[i] = 1;  // resident, page by page
      if (hmb::peak_rss_mb() < before + 250) ::_exit(1);
    }  // freed: a block this large goes back to the kernel at once
    const double high = hmb::peak_rss_mb();
    if (!hmb::reset_peak_rss()) ::_exit(2);
    if (hmb::peak_rss_mb() > high - 200) ::_exit(3);
  });
  INFO("child exit status " << WEXITSTATUS(status) << " (1: no peak seen, 2: reset refused, 3: peak not reset)");
  REQUIRE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 2) {  // a kernel that refuses (gVisor, before Linux 4.0): the sweep says so
    WARN("/proc/self/clear_refs refused here: the reset is not tested on this machine");
    return;
  }
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("environment: the variables of the given prefixes, sorted, and no others", "[util]") {
  ::setenv("HMB_TEST_B", "2", 1);
  ::setenv("HMB_TEST_A", "1", 1);
  ::setenv("XHMB_TEST_C", "3", 1);
  const auto found = hmb::environment_with_prefixes({"HMB_TEST_"});
  CHECK(found == std::vector<std::string>{"HMB_TEST_A=1", "HMB_TEST_B=2"});
  CHECK(hmb::environment_with_prefixes({"HMB_TEST_NONE_"}).empty());
  ::unsetenv("HMB_TEST_A");
  ::unsetenv("HMB_TEST_B");
  ::unsetenv("XHMB_TEST_C");
}
