#include "util/log.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace hmb {

namespace {
constexpr const char* kPattern = "[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v";
}

void setup_logging(LogMode mode) {
  spdlog::drop("hep-mlbench");
  auto logger = spdlog::stderr_color_mt("hep-mlbench");
  logger->set_pattern(kPattern);
  switch (mode) {
    case LogMode::quiet: logger->set_level(spdlog::level::warn); break;
    case LogMode::debug: logger->set_level(spdlog::level::debug); break;
    case LogMode::normal: logger->set_level(spdlog::level::info); break;
  }
  spdlog::set_default_logger(logger);
}

void add_log_file(const std::string& path) {
  auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, /*truncate=*/false);
  sink->set_pattern(kPattern);
  spdlog::default_logger()->sinks().push_back(sink);
}

}  // namespace hmb
