// Where the collector's PKI lives inside its data dir. Everything here is created by `ksweep-collector init`.
#pragma once

#include <string>

namespace ksweep::server::pki {

struct PkiPaths {
  std::string dir;          // DATA/pki, 0700
  std::string ca_cert;      // ca.pem, 0644: hand this to agents
  std::string ca_key;       // ca.key, 0600: never leaves the collector
  std::string server_cert;  // server.pem, 0644: SANs are the --name values
  std::string server_key;   // server.key, 0600
  std::string secret_hash;  // enroll-secret.sha256, 0600: SHA-256 of the enrollment secret, never the secret
  std::string cert_db;      // certs.db, 0600: issued serials, host -> serials, revocations, audit lines
};

inline PkiPaths PkiPathsFor(const std::string& data_dir) {
  const std::string d = data_dir + "/pki";
  return {d, d + "/ca.pem", d + "/ca.key", d + "/server.pem", d + "/server.key", d + "/enroll-secret.sha256",
          d + "/certs.db"};
}

// The URI SAN that names an agent's host id. The URI, not the CN, is the identity the collector checks; the CN
// carries the same host id for people reading `openssl x509 -text`.
inline constexpr char kHostUriPrefix[] = "ksweep://host/";

}  // namespace ksweep::server::pki
