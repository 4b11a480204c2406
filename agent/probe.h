// A probe reads one source of inventory (a package database, unit folders, /proc) under a Root.
// One probe per file under agent/probes/, registered by one line in probe_registry.cc.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/observation.h"
#include "agent/root.h"
#include "common/logging.h"
#include "common/status.h"
#include "ksweep/v1/rules.pb.h"

namespace ksweep::agent {

struct ProbeContext {
  const Root& root;
  // Targeted probes (paths, binaries) look only where the rules point.
  const v1::RuleSet& rules;
  LoggerPtr log;
  // Limit on any external command a probe runs (rpm for old databases).
  std::chrono::milliseconds command_timeout{10000};
};

struct ProbeResult {
  // kOk, kUnavailable (nothing to read here: the probe is absent, not failing), anything else: failed.
  Status status;
  Observations observations;
  int items = 0;  // records inspected
  std::vector<std::string> warnings;
};

class Probe {
 public:
  virtual ~Probe() = default;
  virtual std::string_view name() const = 0;
  virtual ProbeResult Run(const ProbeContext& ctx) = 0;
};

using ProbePtr = std::unique_ptr<Probe>;

}  // namespace ksweep::agent
