// `ksweep-agent configure`: writes the agent's config file (default /etc/ksweep/agent.conf) for the packaged service,
// and copies the collector's CA certificate and the enrollment secret beside it with tight modes. Without --enroll it
// only writes files (it works in a chroot or an image build); with --enroll it then runs `ksweep-agent enroll` on
// those files. Keys already in the file that configure does not set (log-level, scan-interval, ...) are kept.
//
// agent.conf holds only keys `run` reads (server, state-dir, insecure, and ca-cert/secret-file naming the copies): a
// service started before this host is enrolled enrolls itself with them first (run_command.cc).
// Exit codes: 0 written (and enrolled); 2 bad arguments or an unreadable input file (nothing is written then), or a
// config folder that cannot be written; with --enroll, enroll's own codes (4: collector refused or unreachable).
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "agent/commands/command.h"
#include "agent/commands/commands.h"
#include "common/atomic_file.h"

namespace ksweep::agent {
namespace {

constexpr AgentCommand kConfigure{
    "configure",
    "configure --server HOST:PORT [--ca-cert FILE --secret-file FILE [--enroll]] [--insecure] [--state-dir DIR] "
    "[--config-dir DIR]",
    nullptr};

constexpr size_t kMaxCaBytes = 1 << 20;   // a CA bundle
constexpr size_t kMaxSecretBytes = 4096;  // an enrollment secret is a short token
constexpr size_t kMaxConfigBytes = 1 << 20;

// Keys that `ksweep-agent run` and `ksweep-agent enroll` both read from the config file (run_command.cc,
// enroll_command.cc).
constexpr const char* kServerKey = "server";
constexpr const char* kStateDirKey = "state-dir";
constexpr const char* kInsecureKey = "insecure";
constexpr const char* kCaCertKey = "ca-cert";
constexpr const char* kSecretFileKey = "secret-file";

Status CheckServer(const std::string& server) {
  const auto colon = server.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return Status::InvalidArgument("--server '" + server + "': expected HOST:PORT");
  }
  const std::string port = server.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) < 1 || std::stoi(port) > 65535) {
    return Status::InvalidArgument("--server '" + server + "': port must be a number from 1 to 65535");
  }
  if (server.find_first_of(" \t\r\n#=") != std::string::npos) {
    return Status::InvalidArgument("--server '" + server + "': must not contain spaces, '#' or '='");
  }
  return Status::Ok();
}

// The key of a `key = value` line, or "" for blank and comment lines.
std::string KeyOf(const std::string& line) {
  const auto start = line.find_first_not_of(" \t");
  if (start == std::string::npos || line[start] == '#') return "";
  const auto eq = line.find('=', start);
  std::string key = line.substr(start, eq == std::string::npos ? std::string::npos : eq - start);
  key.erase(key.find_last_not_of(" \t") + 1);
  return key;
}

// Creates `dir` and its missing parents 0755 (whatever the umask: the folder holds files other tools read); an
// existing folder is left as it is.
Status EnsureDir(const std::string& dir) {
  for (size_t end = dir.find('/', 1);; end = dir.find('/', end + 1)) {
    const std::string part = dir.substr(0, end);
    if (::mkdir(part.c_str(), 0755) == 0) {
      if (::chmod(part.c_str(), 0755) != 0) {
        return Status::InvalidArgument("--config-dir '" + part + "': cannot set mode: " + std::strerror(errno));
      }
    } else if (errno != EEXIST) {
      return Status::InvalidArgument("--config-dir '" + part + "': cannot create: " + std::strerror(errno));
    }
    if (end == std::string::npos) break;
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument("--config-dir '" + dir + "': not a folder");
  }
  return Status::Ok();
}

Status WriteWithMode(const std::string& path, const std::string& content, mode_t mode) {
  // WriteFileAtomic creates the file 0600 from the first byte; a public file is opened up only once whole.
  Status s = WriteFileAtomic(path, content);
  if (!s.ok()) return s;
  if (mode != 0600 && ::chmod(path.c_str(), mode) != 0) {
    return Status::Internal("'" + path + "': cannot set mode: " + std::strerror(errno));
  }
  return Status::Ok();
}

int RunConfigure(const std::vector<std::string>& args) {
  namespace po = boost::program_options;
  po::options_description desc("ksweep-agent configure");
  std::string server;
  std::string ca_cert;
  std::string secret_file;
  std::string dir = "/etc/ksweep";
  std::string state_dir = "/var/lib/ksweep/agent";
  int enroll_timeout_s = 30;
  desc.add_options()
      ("help,h", "show this help")
      ("server", po::value(&server), "collector address HOST:PORT (its agents port, default 7443)")
      ("ca-cert", po::value(&ca_cert), "PEM certificate of the collector's CA: copied to DIR/agent-ca.pem (0644)")
      ("secret-file", po::value(&secret_file),
       "file holding the enrollment secret: copied to DIR/agent-enroll.secret (0600)")
      ("insecure", "plain-text gRPC to the collector (a collector without TLS; loopback or tests only)")
      ("state-dir", po::value(&state_dir), "the agent's state folder (default /var/lib/ksweep/agent, the service's)")
      ("config-dir", po::value(&dir), "where to write agent.conf and the copies (default /etc/ksweep)")
      ("enroll", "then enroll this host with the collector (`ksweep-agent enroll`; needs --ca-cert, --secret-file)")
      ("enroll-timeout", po::value(&enroll_timeout_s), "seconds to wait for the collector when enrolling (default 30)");
  auto vm = ParseOptions(desc, args);
  if (!vm.ok()) return UsageError(std::string(kConfigure.name) + ": " + vm.status().message());
  if (vm->count("help")) return PrintHelp(kConfigure, desc);
  if (server.empty()) return UsageError("configure: --server HOST:PORT is required");
  if (Status s = CheckServer(server); !s.ok()) return UsageError("configure: " + s.message());
  const bool insecure = vm->count("insecure") > 0;
  if (insecure && (!ca_cert.empty() || !secret_file.empty())) {
    return UsageError("configure: --insecure and --ca-cert/--secret-file exclude each other");
  }
  if (ca_cert.empty() != secret_file.empty()) {
    return UsageError("configure: --ca-cert and --secret-file go together (enrollment needs both)");
  }
  const bool enroll = vm->count("enroll") > 0;
  if (enroll && ca_cert.empty()) return UsageError("configure: --enroll needs --ca-cert and --secret-file");
  if (enroll_timeout_s < 1) return UsageError("configure: --enroll-timeout must be at least 1 second");
  if (state_dir.empty() || state_dir.front() != '/') {
    return UsageError("configure: --state-dir '" + state_dir + "': must be an absolute path");
  }

  // Read and check every input before writing anything, so a typo never leaves a half-configured agent.
  std::string ca_pem;
  if (!ca_cert.empty()) {
    auto pem = ReadSmallFile(ca_cert, kMaxCaBytes);
    if (!pem.ok()) return UsageError("configure: --ca-cert: " + pem.status().message());
    if (pem->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return UsageError("configure: --ca-cert '" + ca_cert + "': no PEM certificate in it");
    }
    ca_pem = std::move(*pem);
  }
  std::string secret;
  if (!secret_file.empty()) {
    auto text = ReadSmallFile(secret_file, kMaxSecretBytes);
    if (!text.ok()) return UsageError("configure: --secret-file: " + text.status().message());
    secret = std::move(*text);
    secret.erase(secret.find_last_not_of(" \t\r\n") + 1);
    if (secret.empty()) return UsageError("configure: --secret-file '" + secret_file + "': empty");
  }
  const std::string conf_path = dir + "/agent.conf";
  std::string old_conf;
  if (auto existing = ReadSmallFile(conf_path, kMaxConfigBytes); existing.ok()) {
    old_conf = std::move(*existing);
  } else if (existing.status().code() != Status::Code::kNotFound) {
    return UsageError("configure: " + existing.status().message());
  }

  if (Status s = EnsureDir(dir); !s.ok()) return UsageError("configure: " + s.message());
  std::ostringstream conf;
  const std::set<std::string> ours = {kServerKey, kStateDirKey, kInsecureKey, kCaCertKey, kSecretFileKey};
  if (old_conf.empty()) {
    conf << "# ksweep-agent settings, read by the ksweep-agent service: `key = value` lines named like the flags of\n"
            "# `ksweep-agent run --help`. Written by `ksweep-agent configure`, which keeps keys it does not set.\n";
  } else {
    std::istringstream in(old_conf);
    for (std::string line; std::getline(in, line);) {
      if (ours.count(KeyOf(line)) == 0) conf << line << "\n";
    }
  }
  conf << kServerKey << " = " << server << "\n" << kStateDirKey << " = " << state_dir << "\n";
  if (insecure) conf << kInsecureKey << " = true\n";
  const std::string ca_path = dir + "/agent-ca.pem";
  const std::string secret_path = dir + "/agent-enroll.secret";
  if (!ca_pem.empty()) conf << kCaCertKey << " = " << ca_path << "\n" << kSecretFileKey << " = " << secret_path << "\n";
  if (!ca_pem.empty()) {
    if (Status s = WriteWithMode(ca_path, ca_pem, 0644); !s.ok()) return UsageError("configure: " + s.message());
  }
  if (!secret.empty()) {
    if (Status s = WriteWithMode(secret_path, secret + "\n", 0600); !s.ok()) {
      return UsageError("configure: " + s.message());
    }
  }
  if (Status s = WriteWithMode(conf_path, conf.str(), 0644); !s.ok()) {
    return UsageError("configure: " + s.message());
  }
  std::cout << "ksweep-agent: wrote " << conf_path << " (server " << server << ")\n";
  const std::vector<std::string> enroll_args = {"--config",      conf_path,   "--ca-cert", ca_path, "--secret-file",
                                                secret_path,     "--timeout", std::to_string(enroll_timeout_s)};
  if (!ca_pem.empty() && !enroll) {
    std::cout << "enroll this host: ksweep-agent enroll";
    for (const std::string& a : enroll_args) std::cout << " " << a;
    std::cout << "\n";
  }
  if (enroll) {
    const AgentCommand* command = nullptr;
    for (const AgentCommand& c : AllCommands()) {
      if (std::string_view(c.name) == "enroll") command = &c;
    }
    if (command == nullptr) return UsageError("configure: --enroll: this agent has no enroll command");
    if (const int code = command->run(enroll_args); code != kExitOk) return code;
  }
  std::cout << "start or restart the agent: systemctl restart ksweep-agent\n";
  return kExitOk;
}

}  // namespace

AgentCommand ConfigureCommand() {
  AgentCommand c = kConfigure;
  c.run = RunConfigure;
  return c;
}

}  // namespace ksweep::agent
