// `ksweep-collector serve` flags and config file (the same keys, key=value per line; flags win).
#pragma once

#include <string>
#include <vector>

#include "common/logging.h"
#include "common/status.h"
#include "server/collector.h"

namespace ksweep::server {

struct ServeCommand {
  bool help = false;
  std::string help_text;
  CollectorOptions options;
  LogOptions log;
  bool insecure = false;
};

// `args` excludes the program name and the `serve` word. Errors name the flag or config line.
Result<ServeCommand> ParseServeArgs(const std::vector<std::string>& args);

// "90", "90s", "15m", "24h", "7d" -> seconds. `what` names the flag in the error.
Result<int64_t> ParseDurationSeconds(const std::string& text, const std::string& what);

}  // namespace ksweep::server
