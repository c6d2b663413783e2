#pragma once
// Logging: spdlog's default logger, one pattern for the whole program.
#include <spdlog/spdlog.h>

#include <string>

namespace hmb {

enum class LogMode { normal, quiet, debug };

// Installs the console logger (stderr, so that stdout stays clean for JSON) with the
// given verbosity. Safe to call more than once; the last call wins.
void setup_logging(LogMode mode);

// Also writes the log to `path` (appending), e.g. <results>/hep-mlbench.log. When stderr is
// that file already (the workload starts each copy with its output there), the console logger
// writes it and nothing is added: every line is in the file once. Returns whether a sink was added.
// Throws Error naming the file and what to do when it cannot be opened (a folder of that name,
// a file this user may not write).
bool add_log_file(const std::string& path);

// True when file descriptor `fd` and the file at `path` are the same file.
bool same_file(int fd, const std::string& path);

}  // namespace hmb
