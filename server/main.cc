// ksweep-collector: stores what agents report and serves the fleet API.
#include <signal.h>

// GCC 12 reports a null dereference inside Boost's typed_value<std::string>::notify that cannot happen (config.cc).
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/program_options.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "common/logging.h"
#include "server/clock.h"
#include "server/collector.h"
#include "server/config.h"
#include "common/tls/files.h"
#include "server/auth/token_command.h"
#include "server/auth/token_store.h"
#include "server/pki/cert_store.h"
#include "server/pki/init.h"

namespace {

constexpr char kUsage[] =
    "usage: ksweep-collector init --data DIR --name HOST[,HOST...] [--force] [--secret-out FILE] [--token-out FILE]\n"
    "       ksweep-collector serve --data DIR [--agent-listen ADDR] [--api-listen ADDR] [--config FILE] [--insecure]\n"
    "                              [--rules FILE]\n"
    "       ksweep-collector revoke --data DIR HOST\n"
    "       ksweep-collector token create|list|revoke --data DIR ...\n"
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
  // SIGHUP re-reads --rules FILE. Blocked here, before any thread starts, so only sigwait() below sees it.
  sigset_t signals = StopSignals();
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
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
  if (cmd->insecure) {
    (*logger)->warn("insecure=true plain-text gRPC on the agent port: anyone on the network can read and forge agent "
                    "traffic; use only on loopback or for tests");
  }

  ksweep::server::SystemClock clock;
  auto collector = ksweep::server::Collector::Start(cmd->options, &clock, *logger);
  if (!collector.ok()) {
    (*logger)->error("collector failed to start error=\"{}\"", collector.status().message());
    std::cerr << "ksweep-collector serve: " << collector.status().message() << "\n";
    return 2;
  }
  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    (*logger)->info("signal received signal=SIGHUP action=reload_rules");
    (void)(*collector)->ReloadRules();  // logs what happened; a bad file keeps the current rules
  }
  (*logger)->info("signal received signal={}", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  (*collector)->Shutdown();
  return 0;
}

int Init(const std::vector<std::string>& args) {
  namespace po = boost::program_options;
  ksweep::server::pki::InitOptions o;
  std::string names, token_out;
  po::options_description flags("ksweep-collector init");
  // clang-format off
  flags.add_options()
    ("help,h", "print this help")
    ("data", po::value(&o.data_dir), "data directory; its pki/ folder receives the CA, server certificate and "
        "the enrollment secret's hash")
    ("name", po::value(&names), "DNS names and IP addresses of the collector, comma-separated (server certificate "
        "SANs): what agents put in --server")
    ("force", po::bool_switch(&o.force), "replace an existing CA (every enrolled agent must enroll again)")
    ("secret-out", po::value(&o.secret_out), "also write the enrollment secret to this file (mode 0600)")
    ("token-out", po::value(&token_out), "also write the first admin API token to this file (mode 0600)");
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(flags).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "ksweep-collector init: " << e.what() << "\n" << kUsage;
    return 2;
  }
  if (vm.count("help") != 0) {
    std::cout << kUsage << "\n" << flags;
    return 0;
  }
  o.names = ksweep::server::pki::SplitNames(names);
  const int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto r = ksweep::server::pki::InitPki(o, now_s);
  if (!r.ok()) {
    std::cerr << "ksweep-collector init: " << r.status().message() << "\n";
    return 2;
  }
  // The first admin API token (server/auth): shown once, only its hash kept in DATA/tokens.db.
  const int64_t now_us = now_s * 1'000'000;
  auto token = ksweep::server::auth::CreateTokenInDataDir(o.data_dir, "admin", ksweep::server::auth::Role::kAdmin,
                                                          now_us, 0);
  if (!token.ok()) {  // a live "admin" token from an earlier init (--force): a second, dated one
    token = ksweep::server::auth::CreateTokenInDataDir(o.data_dir, "admin-" + std::to_string(now_s),
                                                       ksweep::server::auth::Role::kAdmin, now_us, 0);
  }
  if (!token.ok()) {
    std::cerr << "ksweep-collector init: admin token: " << token.status().message() << "\n";
    return 1;
  }
  if (!token_out.empty()) {
    if (auto s = ksweep::tls::WriteFileAtomic(token_out, token->text + "\n", ksweep::tls::kPrivateMode); !s.ok()) {
      std::cerr << "ksweep-collector init: --token-out: " << s.message() << "\n";
      return 1;
    }
  }
  const auto& p = r->paths;
  std::string sans;
  for (const auto& n : r->dns_names) sans += (sans.empty() ? "" : ",") + n;
  for (const auto& n : r->ip_addresses) sans += (sans.empty() ? "" : ",") + n;
  std::cout << "ksweep-collector init: data dir " << o.data_dir << " is ready\n"
            << "  CA certificate      " << p.ca_cert << " (0644, serial " << r->ca_serial << ")\n"
            << "  CA private key      " << p.ca_key << " (0600, never leaves this host)\n"
            << "  server certificate  " << p.server_cert << " (0644, SANs " << sans << ")\n"
            << "  server private key  " << p.server_key << " (0600)\n"
            << "  enrollment secret   " << p.secret_hash << " holds only its SHA-256\n"
            << "  certificate state   " << p.cert_db << " (0600)\n\n"
            << "Enrollment secret (shown once" << (o.secret_out.empty() ? "" : ", also in " + o.secret_out)
            << "):\n  " << r->secret << "\n\n"
            << "Admin API token '" << token->record.name << "' (shown once"
            << (token_out.empty() ? "" : ", also in " + token_out) << "; stored as a hash in "
            << ksweep::server::auth::TokenStorePath(o.data_dir) << "):\n  " << token->text << "\n\n"
            << "Hand each agent the CA certificate and the secret (e.g. by configuration management), then on it:\n"
            << "  ksweep-agent enroll --server " << (sans.empty() ? "HOST" : o.names.front())
            << ":7443 --ca-cert ca.pem --secret-file FILE --state-dir /var/lib/ksweep/agent\n"
            << "Start the collector with: ksweep-collector serve --data " << o.data_dir << "\n";
  return 0;
}

// Offline revocation: certs.db is SQLite, so this works beside a running collector too, which refuses the host's
// next connection. Streams already open stay until they reconnect: `ksweep hosts revoke HOST` (AdminService) also
// ends them at once.
int Revoke(const std::vector<std::string>& args) {
  if (args.size() != 3 || args[0] != "--data") {
    std::cerr << "ksweep-collector revoke: expected --data DIR HOST\n" << kUsage;
    return 2;
  }
  const auto paths = ksweep::server::pki::PkiPathsFor(args[1]);
  if (!std::filesystem::exists(paths.cert_db)) {
    std::cerr << "ksweep-collector revoke: " << paths.cert_db << ": missing (not an initialised data dir)\n";
    return 2;
  }
  auto store = ksweep::server::pki::CertStore::Open(paths.cert_db);
  if (!store.ok()) {
    std::cerr << "ksweep-collector revoke: " << store.status().message() << "\n";
    return 2;
  }
  ksweep::server::SystemClock clock;
  auto n = (*store)->RevokeHost(args[2], clock.Now());
  if (!n.ok()) {
    std::cerr << "ksweep-collector revoke: " << n.status().message() << "\n";
    return 1;
  }
  (void)(*store)->Audit(clock.Now(), "revoke", args[2], "", "local", "offline; certificates revoked=" +
                                                                           std::to_string(*n));
  std::cout << "host " << args[2] << ": " << *n << " certificate(s) revoked; its next connection is refused\n";
  return *n > 0 ? 0 : 3;
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
  if (args[0] == "init") return Init(std::vector<std::string>(args.begin() + 1, args.end()));
  if (args[0] == "revoke") return Revoke(std::vector<std::string>(args.begin() + 1, args.end()));
  if (args[0] == "token") {
    return ksweep::server::auth::RunTokenCommand(std::vector<std::string>(args.begin() + 1, args.end()), std::cout,
                                                 std::cerr);
  }
  if (args[0] != "serve") {
    std::cerr << "ksweep-collector: unknown command '" << args[0] << "'\n" << kUsage;
    return 2;
  }
  return Serve(std::vector<std::string>(args.begin() + 1, args.end()));
}
