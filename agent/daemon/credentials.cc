#include "agent/daemon/credentials.h"

#include <google/protobuf/util/time_util.h>

#include <filesystem>

#include "common/atomic_file.h"
#include "common/tls/credentials.h"
#include "common/tls/files.h"
#include "ksweep/v1/enroll.grpc.pb.h"

namespace ksweep::agent {
namespace {

constexpr auto kCheckInterval = std::chrono::hours(1);
constexpr auto kRetryInterval = std::chrono::minutes(5);

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string CodeText(const grpc::Status& s) {
  static const char* const kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
                                       "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
                                       "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  const int code = static_cast<int>(s.error_code());
  return code >= 0 && code <= 16 ? kNames[code] : std::to_string(code);
}

Status FromGrpc(const grpc::Status& s, const std::string& what) {
  const std::string msg = what + ": " + CodeText(s) + ": " + s.error_message();
  switch (s.error_code()) {
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED: return Status::PermissionDenied(msg);
    case grpc::StatusCode::INVALID_ARGUMENT: return Status::InvalidArgument(msg);
    case grpc::StatusCode::DEADLINE_EXCEEDED: return Status::Timeout(msg);
    default: return Status::Unavailable(msg);
  }
}

std::shared_ptr<grpc::Channel> Channel(const std::string& server, std::shared_ptr<grpc::ChannelCredentials> creds) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetString(GRPC_ARG_PRIMARY_USER_AGENT_STRING, "ksweep-agent/" KSWEEP_VERSION);
  return grpc::CreateCustomChannel(server, std::move(creds), args);
}

// The certificate the collector sent must be for our key and name the host id we asked for.
Result<tls::CertInfo> CheckIssued(const v1::EnrollResponse& response, const std::string& key_pem,
                                  const std::string& host_id) {
  auto cert = tls::ParseCert(response.certificate_pem());
  if (!cert.ok()) return Status::InvalidArgument("collector's answer: " + cert.status().message());
  auto match = tls::KeyMatchesCert(key_pem, cert->pem);
  if (!match.ok()) return match.status();
  if (!*match) return Status::InvalidArgument("collector's answer: the certificate is not for this agent's key");
  if (!host_id.empty() && cert->common_name != host_id) {
    return Status::InvalidArgument("collector's answer: the certificate names host '" + cert->common_name +
                                   "', not '" + host_id + "'");
  }
  return cert;
}

}  // namespace

AgentTlsPaths AgentTlsPathsFor(const std::string& state_dir) {
  const std::string d = state_dir + "/tls";
  return {d, d + "/ca.pem", d + "/agent.key", d + "/agent.pem"};
}

Status ReadEnrollmentFiles(const std::string& ca_file, const std::string& secret_file, EnrollOptions* options) {
  auto ca = ReadSmallFile(ca_file, 256 * 1024);
  if (!ca.ok()) return Status::InvalidArgument("--ca-cert: " + ca.status().message());
  auto secret = ReadSmallFile(secret_file, 4096);
  if (!secret.ok()) return Status::InvalidArgument("--secret-file: " + secret.status().message());
  while (!secret->empty() && (secret->back() == '\n' || secret->back() == '\r' || secret->back() == ' ')) {
    secret->pop_back();
  }
  if (secret->empty()) return Status::InvalidArgument("--secret-file '" + secret_file + "' is empty");
  options->ca_pem = std::move(*ca);
  options->secret = std::move(*secret);
  return Status::Ok();
}

Result<tls::CertInfo> Enroll(const EnrollOptions& o) {
  if (o.server.empty()) return Status::InvalidArgument("--server HOST:PORT is required");
  if (o.secret.empty()) return Status::InvalidArgument("enrollment secret: empty");
  if (o.host_id.empty()) return Status::InvalidArgument("host id: empty");
  const AgentTlsPaths p = AgentTlsPathsFor(o.state_dir);
  if (Status s = tls::MakeDir(o.state_dir, 0700); !s.ok()) return s;
  if (Status s = tls::MakeDir(p.dir, 0700); !s.ok()) return s;
  auto creds = tls::MakeChannelCredentialsFromPem(o.ca_pem, "", "");
  if (!creds.ok()) return creds.status();

  // The key is made here and stays here; an existing one is kept (a re-enrollment is the same host's key).
  std::string key_pem;
  if (auto existing = ReadSmallFile(p.key, 64 * 1024); existing.ok() && tls::PublicKeyOf(*existing).ok()) {
    key_pem = std::move(*existing);
  } else {
    auto key = tls::GenerateKey();
    if (!key.ok()) return key.status();
    key_pem = std::move(*key);
    if (Status s = tls::WriteFileAtomic(p.key, key_pem, tls::kPrivateMode); !s.ok()) return s;
  }
  auto csr = tls::MakeCsr(key_pem, o.host_id);
  if (!csr.ok()) return csr.status();

  v1::EnrollRequest request;
  request.set_host_id(o.host_id);
  request.set_csr_pem(*csr);
  request.set_secret(o.secret);
  v1::EnrollResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + o.timeout);
  auto stub = v1::EnrollmentService::NewStub(Channel(o.server, *creds));
  const grpc::Status st = stub->Enroll(&context, request, &response);
  if (!st.ok()) return FromGrpc(st, "enrollment at " + o.server);
  auto cert = CheckIssued(response, key_pem, o.host_id);
  if (!cert.ok()) return cert;
  if (Status s = tls::WriteFileAtomic(p.ca, o.ca_pem, tls::kPublicMode); !s.ok()) return s;
  if (Status s = tls::WriteFileAtomic(p.cert, cert->pem, tls::kPublicMode); !s.ok()) return s;
  return cert;
}

Result<std::shared_ptr<grpc::ChannelCredentials>> AgentChannelCredentials(const std::string& state_dir) {
  const AgentTlsPaths p = AgentTlsPathsFor(state_dir);
  std::error_code ec;
  if (!std::filesystem::exists(p.cert, ec)) {
    return Status::NotFound(p.cert + ": this agent has not enrolled; run `ksweep-agent enroll --server HOST:PORT "
                            "--ca-cert FILE --secret-file FILE --state-dir " + state_dir + "` (or run with --insecure)");
  }
  return tls::MakeChannelCredentials({p.ca, p.cert, p.key});
}

std::shared_ptr<grpc::ChannelCredentials> DaemonChannelCredentials(const std::string& state_dir, bool insecure,
                                                                   const LoggerPtr& log) {
  if (insecure) return grpc::InsecureChannelCredentials();
  auto creds = AgentChannelCredentials(state_dir);
  if (creds.ok()) return *creds;
  log->error("event=tls_credentials_failed error=\"{}\"", creds.status().message());
  // Trusts no root the collector could present, so the handshake fails and the daemon retries with backoff.
  grpc::SslCredentialsOptions nothing;
  nothing.pem_root_certs = "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n";
  return grpc::SslCredentials(nothing);
}

bool RenewalDue(const tls::CertInfo& cert, int64_t now_s) {
  const int64_t life = cert.not_after - cert.not_before;
  return now_s >= cert.not_before + life * 2 / 3;
}

Result<tls::CertInfo> Renew(const std::string& server, const std::string& state_dir, std::chrono::seconds timeout) {
  const AgentTlsPaths p = AgentTlsPathsFor(state_dir);
  auto key = ReadSmallFile(p.key, 64 * 1024);
  if (!key.ok()) return key.status();
  auto current_pem = ReadSmallFile(p.cert, 256 * 1024);
  if (!current_pem.ok()) return current_pem.status();
  auto current = tls::ParseCert(*current_pem);
  if (!current.ok()) return Status::InvalidArgument(p.cert + ": " + current.status().message());
  auto creds = AgentChannelCredentials(state_dir);
  if (!creds.ok()) return creds.status();
  auto csr = tls::MakeCsr(*key, current->common_name);
  if (!csr.ok()) return csr.status();
  v1::RenewRequest request;
  request.set_csr_pem(*csr);
  v1::EnrollResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  auto stub = v1::EnrollmentService::NewStub(Channel(server, *creds));
  const grpc::Status st = stub->Renew(&context, request, &response);
  if (!st.ok()) return FromGrpc(st, "renewal at " + server);
  auto cert = CheckIssued(response, *key, current->common_name);
  if (!cert.ok()) return cert;
  if (Status s = tls::WriteFileAtomic(p.cert, cert->pem, tls::kPublicMode); !s.ok()) return s;
  return cert;
}

CertRenewer::CertRenewer(std::string server, std::string state_dir, LoggerPtr log)
    : server_(std::move(server)), state_dir_(std::move(state_dir)), log_(std::move(log)) {
  thread_ = std::thread([this] { Loop(); });
}

CertRenewer::~CertRenewer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CertRenewer::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    auto wait = std::chrono::duration_cast<std::chrono::seconds>(kCheckInterval);
    lock.unlock();
    const AgentTlsPaths p = AgentTlsPathsFor(state_dir_);
    auto pem = ReadSmallFile(p.cert, 256 * 1024);
    auto cert = pem.ok() ? tls::ParseCert(*pem) : Result<tls::CertInfo>(pem.status());
    if (!cert.ok()) {
      log_->warn("event=renewal_check_failed error=\"{}\"", cert.status().message());
    } else if (RenewalDue(*cert, NowSeconds())) {
      auto renewed = Renew(server_, state_dir_, std::chrono::seconds(30));
      if (renewed.ok()) {
        log_->info("event=certificate_renewed serial={} not_after={}", renewed->serial, renewed->not_after);
      } else {
        log_->warn("event=renewal_failed serial={} not_after={} error=\"{}\"", cert->serial, cert->not_after,
                   renewed.status().message());
        wait = std::chrono::duration_cast<std::chrono::seconds>(kRetryInterval);
      }
    }
    lock.lock();
    cv_.wait_for(lock, wait, [this] { return stop_; });
  }
}

}  // namespace ksweep::agent
