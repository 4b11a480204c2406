// `ksweep-agent scan`: one scan of this host (or of a folder holding a system's root), printed, then exit.
// Exit codes: 0 clean or remnants only; 3 with --fail-on-detect when a product is installed or running; 2 bad
// arguments, unreadable root, bad rules.
#include <iostream>
#include <string>
#include <vector>

#include "agent/commands/command.h"
#include "agent/probe_registry.h"
#include "agent/report_format.h"
#include "agent/scan.h"
#include "common/logging.h"

namespace ksweep::agent {
namespace {

constexpr AgentCommand kScan{
    "scan", "scan [--root DIR] [--rules FILE] [--json] [--fail-on-detect] [--verbose]", nullptr};

int RunScan(const std::vector<std::string>& args) {
  namespace po = boost::program_options;
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
  auto vm = ParseOptions(desc, args);
  if (!vm.ok()) return UsageError(std::string(kScan.name) + ": " + vm.status().message());
  if (vm->count("help")) return PrintHelp(kScan, desc);

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
  auto report = Scan(options, *rules, registry, *log);
  if (!report.ok()) {
    std::cerr << "ksweep-agent: cannot scan: " << report.status().message() << "\n";
    return kExitUsage;
  }
  if (vm->count("json")) {
    std::cout << FormatReportJson(*report);
  } else {
    std::cout << FormatReportTable(*report, vm->count("verbose") > 0);
  }
  std::cout.flush();
  if (vm->count("fail-on-detect") && HasActiveFinding(*report)) return kExitDetected;
  return kExitOk;
}

}  // namespace

AgentCommand ScanCommand() {
  AgentCommand c = kScan;
  c.run = RunScan;
  return c;
}

}  // namespace ksweep::agent
