// `ksweep-agent run`: the agent as a service. Scans the root at start, on a jittered interval, when the collector
// asks and when the package databases or install folders change; keeps one stream open to the collector and sends a
// report whenever what it found changes. Everything runs on one Boost.Asio event loop on the calling thread; scans
// run on a worker thread so the loop keeps answering the collector meanwhile.
#pragma once

#include <chrono>
#include <string>

#include "agent/daemon/watchdog.h"
#include "agent/probe_registry.h"
#include "common/logging.h"
#include "ksweep/v1/rules.pb.h"

namespace ksweep::agent {

struct DaemonOptions {
  std::string server;        // HOST:PORT
  std::string state_dir;
  std::string root = "/";
  const v1::RuleSet* rules;  // never null: --rules FILE or the built-in set
  // --rules FILE was given: the operator chose this host's rules, so rules the collector pushes are ignored (logged).
  // Otherwise rules persisted in the state folder from an earlier push (rules_store.h) replace `rules` at start.
  bool rules_pinned = false;
  std::chrono::seconds scan_interval{3600};   // jittered
  std::chrono::milliseconds debounce{2000};   // file events -> rescan
  // Live root only: how often the names of running processes are compared with the rules' (process_watcher.h); a
  // change is debounced as file events are. 0 disables.
  std::chrono::seconds process_poll{5};
  bool insecure = true;      // plain-text gRPC until the TLS issue lands

  // Until the collector's Welcome sets one (or when it says 0).
  std::chrono::seconds heartbeat_interval{60};
  // A collector that accepts the stream but sends no Welcome within this is treated as down.
  std::chrono::seconds welcome_timeout{30};
  // Limit on an external command run by a probe during a scan.
  std::chrono::milliseconds command_timeout{10000};
  // Memory and CPU self-check (watchdog.h): past a limit the agent exits kExitWatchdog for systemd to restart it.
  WatchdogLimits watchdog;
};

// Runs until SIGTERM/SIGINT. Returns the process exit code (0 on clean shutdown, 2 on bad options/state dir); the
// watchdog ends the process itself with kExitWatchdog (75).
int RunDaemon(const DaemonOptions& options, const ProbeRegistry& registry, const LoggerPtr& log);

}  // namespace ksweep::agent
