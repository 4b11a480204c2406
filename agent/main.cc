// ksweep-agent: `scan` (one-off) and `run` (daemon).
// Exit codes (a contract): 0 clean or remnants only; 3 with --fail-on-detect when a product is installed or
// running; 2 bad arguments, unreadable root, bad rules; 1 unexpected internal error.
#include <boost/program_options.hpp>

#include <iostream>
#include <string>
#include <vector>

#include "agent/daemon/daemon.h"
#include "agent/probe_registry.h"
#include "agent/report_format.h"
#include "agent/scan.h"
#include "common/logging.h"
#include "common/rules.h"

namespace po = boost::program_options;

namespace ksweep::agent {
namespace {

constexpr int kExitClean = 0;
constexpr int kExitUsage = 2;
constexpr int kExitDetected = 3;

constexpr const char* kUsage =
    "usage: ksweep-agent scan [--root DIR] [--rules FILE] [--json] [--fail-on-detect] [--verbose]\n"
    "       ksweep-agent run --server HOST:PORT --state-dir DIR [--root DIR] [--rules FILE] [--config FILE]\n"
    "       ksweep-agent --version\n";

int UsageError(const std::string& message) {
  std::cerr << "ksweep-agent: " << message << "\n" << kUsage;
  return kExitUsage;
}

Result<v1::RuleSet> LoadRules(const std::string& path) {
  return path.empty() ? BuiltinRules() : LoadRulesFile(path);
}

int Scan(const std::vector<std::string>& args) {
  po::options_description desc("ksweep-agent scan");
  std::string root = "/";
  std::string rules_path;
  std::string log_level = "warn";
  desc.add_options()
      ("help,h", "show this help")
      ("root", po::value(&root), "scan this folder as the root of a system (default /, the live host)")
      ("rules", po::value(&rules_path), "detection rules file (JSON); default: the built-in Kaspersky rules")
      ("json", "print the report as JSON (proto JSON mapping of ksweep.v1.HostReport)")
      ("fail-on-detect", "exit 3 when a product is installed or running")
      ("verbose,v", "also show each probe's result and timing")
      ("log-level", po::value(&log_level), "trace, debug, info, warn (default), error, off");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return UsageError(e.what());
  }
  if (vm.count("help")) {
    std::cout << kUsage << "\n" << desc;
    return kExitClean;
  }
  auto log = MakeLogger("agent", LogOptions{log_level, ""});
  if (!log.ok()) return UsageError(log.status().message());

  auto rules = LoadRules(rules_path);
  if (!rules.ok()) {
    std::cerr << "ksweep-agent: bad rules: " << rules.status().message() << "\n";
    return kExitUsage;
  }
  ProbeRegistry registry;
  RegisterBuiltinProbes(registry);
  ScanOptions options;
  options.root = root;
  auto report = ksweep::agent::Scan(options, *rules, registry, *log);
  if (!report.ok()) {
    std::cerr << "ksweep-agent: cannot scan: " << report.status().message() << "\n";
    return kExitUsage;
  }
  if (vm.count("json")) {
    std::cout << FormatReportJson(*report);
  } else {
    std::cout << FormatReportTable(*report, vm.count("verbose") > 0);
  }
  std::cout.flush();
  if (vm.count("fail-on-detect") && HasActiveFinding(*report)) return kExitDetected;
  return kExitClean;
}

int Run(const std::vector<std::string>& args) {
  po::options_description desc("ksweep-agent run");
  std::string config_path;
  std::string rules_path;
  std::string log_level = "info";
  std::string log_file;
  int scan_interval_s = 3600;
  int debounce_ms = 2000;
  DaemonOptions options;
  desc.add_options()
      ("help,h", "show this help")
      ("server", po::value(&options.server), "collector address HOST:PORT (agents port, default 7443)")
      ("state-dir", po::value(&options.state_dir), "folder for the agent's state (sequence, unsent report)")
      ("root", po::value(&options.root), "scan this folder as the root of a system (default /)")
      ("rules", po::value(&rules_path), "detection rules file (JSON); default: the built-in Kaspersky rules")
      ("config", po::value(&config_path), "config file of `key = value` lines with the same names as these flags")
      ("scan-interval", po::value(&scan_interval_s), "seconds between periodic scans, jittered (default 3600)")
      ("debounce-ms", po::value(&debounce_ms), "quiet time after a file change before rescanning (default 2000)")
      ("insecure", "plain-text gRPC (until TLS lands this is the only mode)")
      ("log-level", po::value(&log_level), "trace, debug, info (default), warn, error, off")
      ("log-file", po::value(&log_file), "log to this file instead of stderr");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).run(), vm);
    if (vm.count("config")) {
      // Flags given on the command line win over the file: program_options keeps the first value stored.
      const std::string file = vm["config"].as<std::string>();
      try {
        po::store(po::parse_config_file<char>(file.c_str(), desc), vm);
      } catch (const po::reading_file&) {
        return UsageError("cannot read config file '" + file + "'");
      }
    }
    po::notify(vm);
  } catch (const po::error& e) {
    return UsageError(e.what());
  }
  if (vm.count("help")) {
    std::cout << kUsage << "\n" << desc;
    return kExitClean;
  }
  if (options.server.empty()) return UsageError("run: --server HOST:PORT is required");
  if (options.state_dir.empty()) return UsageError("run: --state-dir DIR is required");
  if (scan_interval_s < 10) return UsageError("run: --scan-interval must be at least 10 seconds");
  if (debounce_ms < 0) return UsageError("run: --debounce-ms must not be negative");
  auto log = MakeLogger("agent", LogOptions{log_level, log_file});
  if (!log.ok()) return UsageError(log.status().message());
  auto rules = LoadRules(rules_path);
  if (!rules.ok()) {
    std::cerr << "ksweep-agent: bad rules: " << rules.status().message() << "\n";
    return kExitUsage;
  }
  options.rules = &*rules;
  options.scan_interval = std::chrono::seconds(scan_interval_s);
  options.debounce = std::chrono::milliseconds(debounce_ms);
  options.insecure = true;
  ProbeRegistry registry;
  RegisterBuiltinProbes(registry);
  return RunDaemon(options, registry, *log);
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return UsageError("missing command");
  const std::string command = args.front();
  args.erase(args.begin());
  if (command == "scan") return Scan(args);
  if (command == "run") return Run(args);
  if (command == "--version" || command == "version") {
    std::cout << "ksweep-agent " << KSWEEP_VERSION << "\n";
    return kExitClean;
  }
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage;
    return kExitClean;
  }
  return UsageError("unknown command '" + command + "'");
}

}  // namespace
}  // namespace ksweep::agent

int main(int argc, char** argv) {
  try {
    return ksweep::agent::Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "ksweep-agent: internal error: " << e.what() << "\n";
    return 1;
  }
}
