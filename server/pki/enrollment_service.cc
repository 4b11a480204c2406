#include "server/pki/enrollment_service.h"

#include <google/protobuf/util/time_util.h>

#include <chrono>

#include "common/tls/credentials.h"
#include "server/grpc_status.h"

namespace ksweep::server::pki {

namespace {

constexpr size_t kMaxCsrBytes = 16 * 1024;
constexpr size_t kMaxSecretBytes = 1024;

int64_t SteadyMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Fill(const Authority& authority, const tls::CertInfo& cert, const std::string& host_id,
          v1::EnrollResponse* response) {
  response->set_certificate_pem(cert.pem);
  response->set_ca_certificate_pem(authority.ca_pem());
  *response->mutable_not_after() = google::protobuf::util::TimeUtil::SecondsToTimestamp(cert.not_after);
  response->set_host_id(host_id);
}

}  // namespace

std::string SourceAddress(const std::string& peer) {
  std::string rest = peer;
  const auto colon = rest.find(':');
  if (colon != std::string::npos && (rest.rfind("ipv4:", 0) == 0 || rest.rfind("ipv6:", 0) == 0)) {
    rest = rest.substr(colon + 1);
  } else {
    return peer;  // unix sockets and the like: the whole peer string
  }
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    return close == std::string::npos ? rest : rest.substr(1, close - 1);
  }
  const auto port = rest.rfind(':');
  return port == std::string::npos ? rest : rest.substr(0, port);
}

grpc::Status EnrollmentServiceImpl::Enroll(grpc::ServerContext* context, const v1::EnrollRequest* request,
                                           v1::EnrollResponse* response) {
  const std::string peer = context->peer();
  const std::string source = SourceAddress(peer);
  if (!limiter_.Allow(source, SteadyMicros())) {
    // Logged, not written to the audit table: a flood must not turn into a flood of disk writes.
    logger_->warn("event=security action=enroll_rate_limited peer={} host_id={}", peer, request->host_id().substr(0, 80));
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        "enrollment: more than " + std::to_string(static_cast<int>(limit_.per_minute)) +
                            " attempts per minute (burst " + std::to_string(static_cast<int>(limit_.burst)) +
                            ") from " + source + ": refused, try again later");
  }
  if (request->secret().empty() || request->secret().size() > kMaxSecretBytes ||
      !authority_->SecretMatches(request->secret())) {
    authority_->AuditRefusal("enroll_refused", request->host_id().substr(0, 80), peer,
                             request->secret().empty() ? "no secret" : "wrong secret");
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        request->secret().empty() ? "enrollment: no enrollment secret given"
                                                  : "enrollment: wrong enrollment secret");
  }
  if (Status s = CheckHostId(request->host_id()); !s.ok()) return ToGrpc(s);
  if (request->csr_pem().size() > kMaxCsrBytes) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "enrollment: csr_pem larger than " + std::to_string(kMaxCsrBytes) + " bytes");
  }
  auto cert = authority_->Enroll(request->host_id(), request->csr_pem(), peer);
  if (!cert.ok()) {
    logger_->warn("event=enroll_failed peer={} host_id={} error=\"{}\"", peer, request->host_id(),
                  cert.status().message());
    return ToGrpc(cert.status());
  }
  Fill(*authority_, *cert, request->host_id(), response);
  return grpc::Status::OK;
}

grpc::Status EnrollmentServiceImpl::Renew(grpc::ServerContext* context, const v1::RenewRequest* request,
                                          v1::EnrollResponse* response) {
  const std::string peer = context->peer();
  const auto auth = context->auth_context();
  const auto current = auth ? tls::VerifiedPeerCert(*auth) : std::nullopt;
  if (!current) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "renewal: needs the agent's client certificate (enroll first with the secret)");
  }
  auto host = authority_->CheckPeer(*current);
  if (!host.ok()) {
    authority_->AuditRefusal("renew_refused", Authority::IdentityOf(*current), peer, host.status().message());
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "renewal: " + host.status().message());
  }
  if (request->csr_pem().size() > kMaxCsrBytes) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "renewal: csr_pem larger than " + std::to_string(kMaxCsrBytes) + " bytes");
  }
  auto cert = authority_->Renew(*current, request->csr_pem(), peer);
  if (!cert.ok()) return ToGrpc(cert.status());
  Fill(*authority_, *cert, *host, response);
  return grpc::Status::OK;
}

}  // namespace ksweep::server::pki
