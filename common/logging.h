// Loggers are built once by main() and handed down; nothing looks one up by name.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

#include "common/status.h"

namespace ksweep {

using LoggerPtr = std::shared_ptr<spdlog::logger>;

struct LogOptions {
  std::string level = "info";  // trace, debug, info, warn, error, critical, off
  std::string file;            // empty: stderr
};

// A logger writing `key=value` style lines to stderr or a file; flushes on warn so a crash keeps its last errors.
Result<LoggerPtr> MakeLogger(const std::string& name, const LogOptions& options);

// A logger that drops everything (tests, library callers that pass none).
LoggerPtr NullLogger();

}  // namespace ksweep
