// ksweep: the command-line face of the collector's FleetService. See docs/USAGE.md ("CLI") for the contract.
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/interrupts.h"
#include "cli/times.h"
#include "common/logging.h"

int main(int argc, char** argv) {
  using namespace ksweep::cli;
  std::ios::sync_with_stdio(false);
  const std::vector<std::string> args(argv + 1, argv + argc);
  auto invocation = ParseArgs(args, std::getenv(kServerEnv), Now());
  if (!invocation.ok()) {
    std::cerr << "ksweep: " << invocation.status().message() << "\nRun 'ksweep --help' for usage.\n";
    return kExitUsage;
  }
  const Invocation& inv = *invocation;
  if (inv.command == Command::kHelp) {
    std::cout << inv.help;
    return kExitOk;
  }
  if (inv.command == Command::kVersion) {
    std::cout << "ksweep " << KSWEEP_VERSION << "\n";
    return kExitOk;
  }
  // Diagnostics only with --verbose; answers always go to stdout, problems to stderr.
  auto log = ksweep::MakeLogger("ksweep", ksweep::LogOptions{inv.global.verbose ? "debug" : "off", ""});
  if (!log.ok()) return Fail(log.status(), std::cerr);
  (*log)->debug("server={} timeout_ms={} insecure={}", inv.global.server, inv.global.timeout.count(),
                inv.global.insecure);

  // Before the channel exists, so gRPC's threads inherit the blocked signals.
  std::unique_ptr<Interrupts> interrupts;
  if (inv.command == Command::kEvents && inv.events.follow) interrupts = std::make_unique<Interrupts>();
  FleetClient client(inv.global.server, inv.global.timeout, *log);
  const int code = RunCommand(inv, client, interrupts.get(), std::cout, std::cerr);
  std::cout.flush();
  return code;
}
