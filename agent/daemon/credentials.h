// The agent's TLS identity: its files in the state folder, enrollment, the channel credentials the daemon connects
// with, and renewal before expiry over the identity itself.
//
// STATE/tls/agent.key (0600) is made on this host and never sent anywhere; STATE/tls/agent.pem is the certificate
// the collector signed (identity: URI SAN ksweep://host/<host id>, CN the same id); STATE/tls/ca.pem is the
// collector's CA, the only root the agent trusts for the collector.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/logging.h"
#include "common/status.h"
#include "common/tls/x509.h"

namespace ksweep::agent {

struct AgentTlsPaths {
  std::string dir;   // STATE/tls, 0700
  std::string ca;    // ca.pem
  std::string key;   // agent.key, 0600
  std::string cert;  // agent.pem
};
AgentTlsPaths AgentTlsPathsFor(const std::string& state_dir);

struct EnrollOptions {
  std::string server;   // HOST:PORT of the collector's agent port
  std::string ca_pem;   // the collector's CA certificate
  std::string secret;   // the enrollment secret
  std::string host_id;  // what Hello will claim
  std::string state_dir;
  std::chrono::seconds timeout{30};
};

// The CA certificate and the enrollment secret from their files, as `enroll` and a self-enrolling `run` read them:
// the secret's trailing newline and blanks are dropped; an empty secret is an error naming the file.
Status ReadEnrollmentFiles(const std::string& ca_file, const std::string& secret_file, EnrollOptions* options);

// Makes a key (kept if one is already there and matches nothing else: a re-enrollment keeps the host's key), sends
// a CSR with the secret over TLS that verifies the collector against `ca_pem`, and stores ca.pem and agent.pem.
// Errors carry the gRPC code's name and the collector's message.
Result<tls::CertInfo> Enroll(const EnrollOptions& options);

// Credentials for the agent port from STATE/tls, re-read on every call so a renewed certificate is used by the next
// connection. kNotFound (saying to run `ksweep-agent enroll`) when the agent has not enrolled.
Result<std::shared_ptr<grpc::ChannelCredentials>> AgentChannelCredentials(const std::string& state_dir);

// The channel credentials the daemon uses: plain text when `insecure`, else AgentChannelCredentials. A failure to
// load is logged and yields credentials that trust nothing, so the connection fails closed and is retried.
std::shared_ptr<grpc::ChannelCredentials> DaemonChannelCredentials(const std::string& state_dir, bool insecure,
                                                                   const LoggerPtr& log);

// True from 2/3 of the certificate's lifetime on.
bool RenewalDue(const tls::CertInfo& cert, int64_t now_s);

// Asks the collector for a new certificate for the same key over the agent's current identity; replaces agent.pem
// atomically.
Result<tls::CertInfo> Renew(const std::string& server, const std::string& state_dir, std::chrono::seconds timeout);

// A thread that renews the certificate when due (checked hourly, and retried every few minutes after a failure)
// until destroyed.
class CertRenewer {
 public:
  CertRenewer(std::string server, std::string state_dir, LoggerPtr log);
  ~CertRenewer();
  CertRenewer(const CertRenewer&) = delete;
  CertRenewer& operator=(const CertRenewer&) = delete;

 private:
  void Loop();
  const std::string server_;
  const std::string state_dir_;
  const LoggerPtr log_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace ksweep::agent
