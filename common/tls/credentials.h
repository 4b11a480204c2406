// gRPC transport credentials from PEM files, for both ports of the collector and for its clients.
//
// Why SslServerCredentials/SslCredentials and not grpc::experimental::TlsServerCredentials: gRPC 1.51's C++ TLS
// options have no setter for the TLS version range, and both APIs end in the same core handshaker, whose default
// range is TLS 1.2 to TLS 1.3 (1.3 preferred when both sides have it). The Ssl* API is the stable one, so the
// version floor comes from gRPC core's default; tests/integration/pki_test.cc checks a TLS 1.1 client is refused.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "common/tls/x509.h"

namespace ksweep::tls {

enum class ClientCertPolicy {
  kNone,              // server authentication only
  kRequestAndVerify,  // a client certificate is optional, but one that is sent must chain to client_ca
  kRequireAndVerify,  // the handshake fails without a client certificate chaining to client_ca
};

struct ServerTlsFiles {
  std::string cert;       // PEM chain, leaf first
  std::string key;        // PEM private key of the leaf
  std::string client_ca;  // PEM roots that client certificates must chain to; needed unless policy is kNone
  ClientCertPolicy policy = ClientCertPolicy::kNone;
};

struct ChannelTlsFiles {
  std::string ca;    // PEM roots the server certificate must chain to (never the system roots)
  std::string cert;  // optional client certificate chain
  std::string key;   // its private key (both or neither)
};

// Reads the files and builds server credentials; errors name the file.
Result<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const ServerTlsFiles& files);
// The same from PEM text already loaded.
Result<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentialsFromPem(const std::string& cert_pem,
                                                                              const std::string& key_pem,
                                                                              const std::string& client_ca_pem,
                                                                              ClientCertPolicy policy);

Result<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(const ChannelTlsFiles& files);
Result<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentialsFromPem(const std::string& ca_pem,
                                                                                const std::string& cert_pem,
                                                                                const std::string& key_pem);

// The client certificate a server call's peer presented and gRPC verified against the client CA; nullopt when the
// peer sent none (or the port is plain text).
std::optional<CertInfo> VerifiedPeerCert(const grpc::AuthContext& auth);

}  // namespace ksweep::tls
