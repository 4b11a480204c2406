#include "common/tls/credentials.h"

#include <grpc/grpc_security_constants.h>

#include "common/atomic_file.h"
#include "common/tls/files.h"

namespace ksweep::tls {
namespace {

Result<std::string> ReadPem(const std::string& path, const std::string& what) {
  if (path.empty()) return Status::InvalidArgument(what + ": no file given");
  auto text = ReadSmallFile(path, 256 * 1024);
  if (!text.ok()) return Status(text.status().code() == Status::Code::kNotFound
                                    ? Status::NotFound(what + " " + text.status().message())
                                    : Status::IoError(what + " " + text.status().message()));
  return text;
}

}  // namespace

Result<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentialsFromPem(const std::string& cert_pem,
                                                                              const std::string& key_pem,
                                                                              const std::string& client_ca_pem,
                                                                              ClientCertPolicy policy) {
  auto cert = ParseCert(cert_pem);
  if (!cert.ok()) return Status::InvalidArgument("server certificate: " + cert.status().message());
  auto match = KeyMatchesCert(key_pem, cert_pem);
  if (!match.ok()) return Status::InvalidArgument("server key: " + match.status().message());
  if (!*match) return Status::InvalidArgument("server key does not belong to the server certificate");
  grpc_ssl_client_certificate_request_type request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  if (policy != ClientCertPolicy::kNone) {
    if (client_ca_pem.empty()) return Status::InvalidArgument("client CA: needed to verify client certificates");
    if (auto ca = ParseCert(client_ca_pem); !ca.ok()) return Status::InvalidArgument("client CA: " + ca.status().message());
    request = policy == ClientCertPolicy::kRequestAndVerify ? GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY
                                                            : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  grpc::SslServerCredentialsOptions options(request);
  options.pem_root_certs = policy == ClientCertPolicy::kNone ? std::string() : client_ca_pem;
  options.pem_key_cert_pairs.push_back({key_pem, cert_pem});
  auto creds = grpc::SslServerCredentials(options);
  if (!creds) return Status::Internal("gRPC refused the server TLS credentials");
  return creds;
}

Result<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const ServerTlsFiles& files) {
  auto cert = ReadPem(files.cert, "server certificate");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem(files.key, "server key");
  if (!key.ok()) return key.status();
  std::string ca;
  if (files.policy != ClientCertPolicy::kNone) {
    auto text = ReadPem(files.client_ca, "client CA");
    if (!text.ok()) return text.status();
    ca = std::move(*text);
  }
  auto creds = MakeServerCredentialsFromPem(*cert, *key, ca, files.policy);
  if (!creds.ok()) {
    return Status::InvalidArgument(creds.status().message() + " (files: " + files.cert + ", " + files.key +
                                   (ca.empty() ? "" : ", " + files.client_ca) + ")");
  }
  return creds;
}

Result<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentialsFromPem(const std::string& ca_pem,
                                                                                const std::string& cert_pem,
                                                                                const std::string& key_pem) {
  // Empty roots would make gRPC fall back to the system store: any public CA could then impersonate the collector.
  if (ca_pem.empty()) return Status::InvalidArgument("CA certificate: empty (the system roots are never used)");
  if (auto ca = ParseCert(ca_pem); !ca.ok()) return Status::InvalidArgument("CA certificate: " + ca.status().message());
  if (cert_pem.empty() != key_pem.empty()) {
    return Status::InvalidArgument("client certificate and key: give both or neither");
  }
  if (!cert_pem.empty()) {
    auto match = KeyMatchesCert(key_pem, cert_pem);
    if (!match.ok()) return Status::InvalidArgument("client key: " + match.status().message());
    if (!*match) return Status::InvalidArgument("client key does not belong to the client certificate");
  }
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ca_pem;
  options.pem_private_key = key_pem;
  options.pem_cert_chain = cert_pem;
  auto creds = grpc::SslCredentials(options);
  if (!creds) return Status::Internal("gRPC refused the channel TLS credentials");
  return creds;
}

Result<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(const ChannelTlsFiles& files) {
  auto ca = ReadPem(files.ca, "CA certificate");
  if (!ca.ok()) return ca.status();
  std::string cert, key;
  if (!files.cert.empty() || !files.key.empty()) {
    auto c = ReadPem(files.cert, "client certificate");
    if (!c.ok()) return c.status();
    auto k = ReadPem(files.key, "client key");
    if (!k.ok()) return k.status();
    cert = std::move(*c);
    key = std::move(*k);
  }
  auto creds = MakeChannelCredentialsFromPem(*ca, cert, key);
  if (!creds.ok()) {
    return Status::InvalidArgument(creds.status().message() + " (files: " + files.ca +
                                   (cert.empty() ? "" : ", " + files.cert + ", " + files.key) + ")");
  }
  return creds;
}

std::optional<CertInfo> VerifiedPeerCert(const grpc::AuthContext& auth) {
  if (!auth.IsPeerAuthenticated()) return std::nullopt;
  const auto pems = auth.FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pems.empty()) return std::nullopt;
  auto info = ParseCert(std::string(pems.front().data(), pems.front().size()));
  if (!info.ok()) return std::nullopt;
  return *info;
}

}  // namespace ksweep::tls
