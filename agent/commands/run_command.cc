// `ksweep-agent run`: the daemon. Streams reports to the collector until SIGTERM.
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "agent/commands/command.h"
#include "agent/daemon/credentials.h"
#include "agent/daemon/daemon.h"
#include "agent/host_facts.h"
#include "agent/probe_registry.h"
#include "agent/root.h"
#include "common/logging.h"

namespace ksweep::agent {
namespace {

constexpr AgentCommand kRun{
    "run",
    "run --server HOST:PORT --state-dir DIR [--ca-cert FILE --secret-file FILE] [--root DIR] [--rules FILE] "
    "[--config FILE]",
    nullptr};

constexpr int kExitNotEnrolled = 4;  // as `enroll`: refused by or cannot reach the collector

// A host set up by dropping files (config management, packages) has a CA and a secret but no certificate yet:
// enroll once, then run. Without them, the daemon starts and keeps saying how to enroll.
int EnrollIfNeeded(const DaemonOptions& options, const std::string& ca_file, const std::string& secret_file,
                   const LoggerPtr& log) {
  const AgentTlsPaths paths = AgentTlsPathsFor(options.state_dir);
  std::error_code ec;
  if (options.insecure || ca_file.empty() || secret_file.empty() || std::filesystem::exists(paths.cert, ec)) {
    return kExitOk;
  }
  EnrollOptions enroll;
  enroll.server = options.server;
  enroll.state_dir = options.state_dir;
  if (Status read = ReadEnrollmentFiles(ca_file, secret_file, &enroll); !read.ok()) {
    return UsageError("run: " + read.message());
  }
  std::vector<std::string> warnings;
  enroll.host_id = ReadHostFacts(Root(options.root), &warnings).host_id();
  auto cert = Enroll(enroll);
  if (!cert.ok()) {
    log->error("event=enroll_failed server={} error=\"{}\"", options.server, cert.status().message());
    std::cerr << "ksweep-agent: run: not enrolled and enrollment failed: " << cert.status().message() << "\n";
    return cert.status().code() == Status::Code::kInvalidArgument ? kExitUsage : kExitNotEnrolled;
  }
  log->info("event=enrolled host_id={} serial={} not_after={}", enroll.host_id, cert->serial, cert->not_after);
  return kExitOk;
}

int RunDaemonCommand(const std::vector<std::string>& args) {
  namespace po = boost::program_options;
  po::options_description desc("ksweep-agent run");
  std::string config_path;
  std::string rules_path;
  std::string log_level = "info";
  std::string log_file;
  int scan_interval_s = 3600;
  int debounce_ms = 2000;
  int process_poll_s = 5;
  int max_rss_mb = 64;
  int watchdog_interval_s = 10;
  std::string ca_file;
  std::string secret_file;
  DaemonOptions options;
  desc.add_options()
      ("help,h", "show this help")
      ("server", po::value(&options.server), "collector address HOST:PORT (agents port, default 7443)")
      ("state-dir", po::value(&options.state_dir), "folder for the agent's state (sequence, unsent report)")
      ("root", po::value(&options.root), "scan this folder as the root of a system (default /)")
      ("ca-cert", po::value(&ca_file), "not enrolled yet: the collector's CA certificate, to enroll with first")
      ("secret-file", po::value(&secret_file), "not enrolled yet: file holding the enrollment secret")
      ("rules", po::value(&rules_path),
       "detection rules file (JSON), pinned: rules the collector pushes are then ignored; default: the rules last "
       "pushed by the collector (STATE/rules.json), else the built-in Kaspersky rules")
      ("config", po::value(&config_path), "config file of `key = value` lines with the same names as these flags")
      ("scan-interval", po::value(&scan_interval_s), "seconds between periodic scans, jittered (default 3600)")
      ("debounce-ms", po::value(&debounce_ms), "quiet time after a file change before rescanning (default 2000)")
      ("process-poll-seconds", po::value(&process_poll_s),
       "live root: seconds between checks of running process names against the rules, 0 disables (default 5)")
      ("insecure", "plain-text gRPC to the collector (default: mutual TLS with STATE/tls from `enroll`)")
      ("max-rss-mb", po::value(&max_rss_mb),
       "watchdog: exit 75 (for systemd to restart) above this resident memory in MiB (default 64)")
      ("max-cpu-percent", po::value(&options.watchdog.max_cpu_percent),
       "watchdog: exit 75 when CPU stays above this share of one core for 3 checks (default 5)")
      ("watchdog-interval", po::value(&watchdog_interval_s), "watchdog: seconds between checks, 0 disables (default 10)")
      ("log-level", po::value(&log_level), "trace, debug, info (default), warn, error, off")
      ("log-file", po::value(&log_file), "log to this file instead of stderr");
  auto vm = ParseOptions(desc, args);
  if (!vm.ok()) return UsageError(std::string(kRun.name) + ": " + vm.status().message());
  if (vm->count("help")) return PrintHelp(kRun, desc);
  if (options.server.empty()) return UsageError("run: --server HOST:PORT is required");
  if (options.state_dir.empty()) return UsageError("run: --state-dir DIR is required");
  if (scan_interval_s < 10) return UsageError("run: --scan-interval must be at least 10 seconds");
  if (debounce_ms < 0) return UsageError("run: --debounce-ms must not be negative");
  if (process_poll_s < 0) return UsageError("run: --process-poll-seconds must not be negative");
  if (max_rss_mb < 1) return UsageError("run: --max-rss-mb must be at least 1");
  if (options.watchdog.max_cpu_percent <= 0) return UsageError("run: --max-cpu-percent must be positive");
  if (watchdog_interval_s < 0) return UsageError("run: --watchdog-interval must not be negative");
  auto log = MakeLogger("agent", LogOptions{log_level, log_file});
  if (!log.ok()) return UsageError(log.status().message());
  auto rules = LoadRules(rules_path);
  if (!rules.ok()) {
    std::cerr << "ksweep-agent: bad rules: " << rules.status().message() << "\n";
    return kExitUsage;
  }
  options.rules = &*rules;
  options.rules_pinned = !rules_path.empty();
  options.scan_interval = std::chrono::seconds(scan_interval_s);
  options.debounce = std::chrono::milliseconds(debounce_ms);
  options.process_poll = std::chrono::seconds(process_poll_s);
  options.watchdog.max_rss_bytes = static_cast<uint64_t>(max_rss_mb) << 20;
  options.watchdog.enabled = watchdog_interval_s > 0;
  if (options.watchdog.enabled) options.watchdog.interval = std::chrono::seconds(watchdog_interval_s);
  options.insecure = vm->count("insecure") > 0;
  if (options.insecure) {
    (*log)->warn("event=insecure note=\"plain-text gRPC: anyone on the network can read and forge this agent's "
                 "reports; use only on loopback or for tests\"");
  }
  if (int enrolled = EnrollIfNeeded(options, ca_file, secret_file, *log); enrolled != kExitOk) return enrolled;
  // Renews STATE/tls/agent.pem at 2/3 of its lifetime over the agent's own mTLS identity (credentials.h).
  std::unique_ptr<CertRenewer> renewer;
  if (!options.insecure) renewer = std::make_unique<CertRenewer>(options.server, options.state_dir, *log);
  ProbeRegistry registry;
  RegisterBuiltinProbes(registry);
  return RunDaemon(options, registry, *log);
}

}  // namespace

AgentCommand RunCommand() {
  AgentCommand c = kRun;
  c.run = RunDaemonCommand;
  return c;
}

}  // namespace ksweep::agent
