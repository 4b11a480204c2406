// ksweep: the command-line face of the collector's FleetService. See docs/USAGE.md ("CLI") for the contract.
#include <cctype>
#include <cstdlib>
#include <fstream>
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

namespace {

const char* Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

ksweep::Result<std::string> ReadSmallFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ksweep::Status::InvalidArgument(what + " '" + path + "': cannot read");
  std::string text;
  text.resize(1 << 20);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

// TLS settings and the token: flags first, then the environment. The token itself is never a flag (ps shows
// flags): $KSWEEP_TOKEN, else the file named by --token-file or $KSWEEP_TOKEN_FILE.
ksweep::Result<ksweep::cli::ClientOptions> ConnectionFromEnvironment(const ksweep::cli::GlobalOptions& g) {
  using ksweep::Status;
  ksweep::cli::ClientOptions o;
  o.server = g.server;
  o.timeout = g.timeout;
  o.insecure = g.insecure;
  if (g.insecure) return o;  // plain text: no CA, and no token is sent in the clear
  std::string ca = g.ca_cert;
  if (ca.empty() && Env(ksweep::cli::kCaCertEnv) != nullptr) ca = Env(ksweep::cli::kCaCertEnv);
  if (ca.empty()) {
    return Status::InvalidArgument("the collector's CA certificate is needed for TLS: --ca-cert FILE or "
                                   "KSWEEP_CA_CERT (the collector prints where it is at init); --insecure for a "
                                   "plain-text collector");
  }
  auto pem = ReadSmallFile(ca, "--ca-cert");
  if (!pem.ok()) return pem.status();
  o.ca_pem = std::move(*pem);
  std::string token;
  if (g.token_file.empty() && Env(ksweep::cli::kTokenEnv) != nullptr) {
    token = Env(ksweep::cli::kTokenEnv);
  } else {
    std::string file = g.token_file;
    if (file.empty() && Env(ksweep::cli::kTokenFileEnv) != nullptr) file = Env(ksweep::cli::kTokenFileEnv);
    if (!file.empty()) {
      auto text = ReadSmallFile(file, "--token-file");
      if (!text.ok()) return text.status();
      token = std::move(*text);
    }
  }
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.front()))) token.erase(token.begin());
  for (char c : token) {
    if (std::isprint(static_cast<unsigned char>(c)) == 0 || c == ' ') {
      return Status::InvalidArgument("the API token holds a character that cannot be sent (check KSWEEP_TOKEN or "
                                     "the token file)");
    }
  }
  o.token = std::move(token);
  return o;
}

}  // namespace

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
  auto options = ConnectionFromEnvironment(inv.global);
  if (!options.ok()) return Fail(options.status(), std::cerr);

  // Before the channel exists, so gRPC's threads inherit the blocked signals.
  std::unique_ptr<Interrupts> interrupts;
  if (inv.command == Command::kEvents && inv.events.follow) interrupts = std::make_unique<Interrupts>();
  auto client = FleetClient::Make(*options, *log);
  if (!client.ok()) return Fail(client.status(), std::cerr);
  const int code = RunCommand(inv, **client, interrupts.get(), std::cout, std::cerr);
  std::cout.flush();
  return code;
}
