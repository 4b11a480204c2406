// ksweep-collector: stores what agents report and serves the fleet API.
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "common/logging.h"
#include "server/clock.h"
#include "server/collector.h"
#include "server/config.h"

namespace {

constexpr char kUsage[] =
    "usage: ksweep-collector serve --data DIR [--agent-listen ADDR] [--api-listen ADDR] [--config FILE]\n"
    "       ksweep-collector serve --help\n"
    "       ksweep-collector --version\n";

sigset_t StopSignals() {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  return stop;
}

int Serve(const std::vector<std::string>& args) {
  const sigset_t stop = StopSignals();
  auto cmd = ksweep::server::ParseServeArgs(args);
  if (!cmd.ok()) {
    std::cerr << "ksweep-collector serve: " << cmd.status().message() << "\n" << kUsage;
    return 2;
  }
  if (cmd->help) {
    std::cout << cmd->help_text;
    return 0;
  }
  auto logger = ksweep::MakeLogger("collector", cmd->log);
  if (!logger.ok()) {
    std::cerr << "ksweep-collector serve: " << logger.status().message() << "\n";
    return 2;
  }
  // Plain text is the only transport until TLS lands; --insecure will then be required for it.
  if (cmd->insecure) {
    (*logger)->warn("insecure=true plain-text gRPC: anyone on the network can read and forge agent traffic");
  } else {
    (*logger)->warn("plain-text gRPC (TLS not available yet); later versions will require --insecure for this");
  }

  ksweep::server::SystemClock clock;
  auto collector = ksweep::server::Collector::Start(cmd->options, &clock, *logger);
  if (!collector.ok()) {
    (*logger)->error("collector failed to start error=\"{}\"", collector.status().message());
    std::cerr << "ksweep-collector serve: " << collector.status().message() << "\n";
    return 2;
  }
  int sig = 0;
  sigwait(&stop, &sig);
  (*logger)->info("signal received signal={}", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  (*collector)->Shutdown();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Block the stop signals before any thread starts, so that only sigwait() in Serve sees them.
  const sigset_t stop = StopSignals();
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  if (args[0] == "--version" || args[0] == "version") {
    std::cout << "ksweep-collector " << KSWEEP_VERSION << "\n";
    return 0;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (args[0] != "serve") {
    std::cerr << "ksweep-collector: unknown command '" << args[0] << "'\n" << kUsage;
    return 2;
  }
  return Serve(std::vector<std::string>(args.begin() + 1, args.end()));
}
