// One scan: every probe over a root, detection, host facts -> a HostReport. Used by `ksweep-agent scan` and by
// the daemon.
#pragma once

#include <chrono>
#include <string>

#include "agent/probe_registry.h"
#include "common/logging.h"
#include "common/status.h"
#include "ksweep/v1/report.pb.h"
#include "ksweep/v1/rules.pb.h"

namespace ksweep::agent {

struct ScanOptions {
  std::string root = "/";
  std::chrono::milliseconds command_timeout{10000};
};

// Fails only when the root cannot be read at all; a probe that fails is reported in HostReport.probes and warnings.
Result<v1::HostReport> Scan(const ScanOptions& options, const v1::RuleSet& rules, const ProbeRegistry& registry,
                            const LoggerPtr& log);

// True when a product is INSTALLED or RUNNING (what `--fail-on-detect` exits 3 for).
bool HasActiveFinding(const v1::HostReport& report);

}  // namespace ksweep::agent
