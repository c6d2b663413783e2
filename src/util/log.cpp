#include "util/log.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include "util/error.hpp"

namespace hmb {

namespace {
constexpr const char* kPattern = "[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v";
}

void setup_logging(LogMode mode) {
  spdlog::drop("hep-mlbench");
  auto logger = spdlog::stderr_color_mt("hep-mlbench");
  logger->set_pattern(kPattern);
  // Every message of info and above reaches the log file at once: a process that is killed
  // (out of memory, a crash) leaves a log that says how far it got.
  logger->flush_on(spdlog::level::info);
  switch (mode) {
    case LogMode::quiet: logger->set_level(spdlog::level::warn); break;
    case LogMode::debug: logger->set_level(spdlog::level::debug); break;
    case LogMode::normal: logger->set_level(spdlog::level::info); break;
  }
  spdlog::set_default_logger(logger);
}

bool same_file(int fd, const std::string& path) {
  struct stat a {}, b {};
  if (::fstat(fd, &a) != 0 || ::stat(path.c_str(), &b) != 0) return false;
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

bool add_log_file(const std::string& path) {
  if (same_file(STDERR_FILENO, path)) return false;
  struct stat st {};
  // Opening a FIFO for writing waits for a reader that may never come.
  if (::stat(path.c_str(), &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
    throw Error("log file '" + path + "' cannot be opened for appending: it is a FIFO or a socket, not a file: move it "
                "away, or choose another results folder with --results");
  std::shared_ptr<spdlog::sinks::basic_file_sink_mt> sink;
  try {
    sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, /*truncate=*/false);
  } catch (const std::exception& e) {
    const bool folder = ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    throw Error("log file '" + path + "' cannot be opened for appending" +
                (folder ? std::string(": it is a folder") : " (" + std::string(e.what()) + ")") +
                ": move it away or make it writable, or choose another results folder with --results");
  }
  sink->set_pattern(kPattern);
  auto logger = spdlog::default_logger();
  logger->sinks().push_back(sink);
  // A log file that can no longer be written (no room, say) costs the file its later lines, not
  // the run: said once on stderr, in words, where the messages go on. (spdlog calls this for any
  // message it fails to log, which here is in practice the file.)
  logger->set_error_handler([path, said = std::make_shared<std::atomic<bool>>(false)](const std::string& msg) {
    if (said->exchange(true)) return;
    std::fprintf(stderr,
                 "hep-mlbench: warning: a message could not be logged (%s): the log file '%s' may lack it and later "
                 "ones, which stderr still has\n",
                 msg.c_str(), path.c_str());
  });
  return true;
}

}  // namespace hmb
