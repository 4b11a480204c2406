// `ksweep-agent enroll`: gets this host a client certificate from the collector. The key is made here (STATE/tls/
// agent.key, 0600) and never sent; the collector signs a CSR after checking the enrollment secret. Exit 0 enrolled,
// 2 bad arguments or files, 4 refused or unreachable collector.
#include <iostream>
#include <string>
#include <vector>

#include "agent/commands/command.h"
#include "agent/daemon/credentials.h"
#include "agent/host_facts.h"
#include "agent/root.h"
#include "common/tls/files.h"

namespace ksweep::agent {
namespace {

constexpr int kExitRefused = 4;

constexpr AgentCommand kEnroll{
    "enroll",
    "enroll --server HOST:PORT --ca-cert FILE --secret-file FILE [--state-dir DIR] [--root DIR] [--config FILE]",
    nullptr};

int EnrollAgent(const std::vector<std::string>& args) {
  namespace po = boost::program_options;
  po::options_description desc("ksweep-agent enroll");
  std::string config_path, ca_file, secret_file, root = "/";
  int timeout_s = 30;
  EnrollOptions options;
  options.state_dir = "/var/lib/ksweep/agent";  // where the packages keep it
  desc.add_options()
      ("help,h", "show this help")
      ("server", po::value(&options.server), "collector agent port HOST:PORT (a name or IP in its certificate)")
      ("ca-cert", po::value(&ca_file), "the collector's CA certificate (DATA/pki/ca.pem on the collector)")
      ("secret-file", po::value(&secret_file),
       "file holding the enrollment secret (never a flag: it would show in ps)")
      ("state-dir", po::value(&options.state_dir), "the agent's state folder (default /var/lib/ksweep/agent)")
      ("root", po::value(&root), "the root whose machine id names this host (default /; as `run --root`)")
      ("config", po::value(&config_path), "config file of `key = value` lines (the `run` config file works)")
      ("timeout", po::value(&timeout_s), "seconds to wait for the collector (default 30)");
  // `run` keys in a shared config file are not errors here.
  desc.add_options()("rules", po::value<std::string>(), "")("scan-interval", po::value<int>(), "")(
      "debounce-ms", po::value<int>(), "")("process-poll-seconds", po::value<int>(), "")(
      "log-level", po::value<std::string>(), "")("log-file", po::value<std::string>(), "")("insecure", "");
  auto vm = ParseOptions(desc, args);
  if (!vm.ok()) return UsageError(std::string(kEnroll.name) + ": " + vm.status().message());
  if (vm->count("help")) return PrintHelp(kEnroll, desc);
  if (options.server.empty()) return UsageError("enroll: --server HOST:PORT is required");
  if (ca_file.empty()) return UsageError("enroll: --ca-cert FILE is required");
  if (secret_file.empty()) return UsageError("enroll: --secret-file FILE is required");
  if (timeout_s < 1) return UsageError("enroll: --timeout must be at least 1 second");
  if (Status read = ReadEnrollmentFiles(ca_file, secret_file, &options); !read.ok()) {
    return UsageError("enroll: " + read.message());
  }
  std::vector<std::string> warnings;
  const v1::HostFacts facts = ReadHostFacts(Root(root), &warnings);
  for (const auto& w : warnings) std::cerr << "ksweep-agent: warning: " << w << "\n";
  options.host_id = facts.host_id();
  options.timeout = std::chrono::seconds(timeout_s);
  auto cert = Enroll(options);
  if (!cert.ok()) {
    std::cerr << "ksweep-agent: enroll: " << cert.status().message() << "\n";
    const auto code = cert.status().code();
    return code == Status::Code::kInvalidArgument || code == Status::Code::kIoError ? kExitUsage : kExitRefused;
  }
  const AgentTlsPaths p = AgentTlsPathsFor(options.state_dir);
  std::cout << "enrolled host_id=" << options.host_id << " serial=" << cert->serial << " not_after=" << cert->not_after
            << "\n  key " << p.key << " (0600, made here, never sent)\n  certificate " << p.cert << "\n  CA " << p.ca
            << "\nStart the agent: ksweep-agent run --server " << options.server << " --state-dir " << options.state_dir
            << "\n";
  return kExitOk;
}

}  // namespace

AgentCommand EnrollCommand() {
  AgentCommand c = kEnroll;
  c.run = EnrollAgent;
  return c;
}

}  // namespace ksweep::agent
