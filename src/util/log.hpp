#pragma once
// Logging: spdlog's default logger, one pattern for the whole program.
#include <spdlog/spdlog.h>

#include <string>

namespace hmb {

enum class LogMode { normal, quiet, debug };

// Installs the console logger (stderr, so that stdout stays clean for JSON) with the
// given verbosity. Safe to call more than once; the last call wins.
void setup_logging(LogMode mode);

// Also writes the log to `path` (appending), e.g. <results>/hep-mlbench.log.
void add_log_file(const std::string& path);

}  // namespace hmb
