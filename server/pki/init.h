// `ksweep-collector init`: the collector's private CA, its server certificate, the enrollment secret. Run once per
// data dir; refuses to replace an existing CA unless told to (every enrolled agent would have to enroll again).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "server/pki/paths.h"

namespace ksweep::server::pki {

struct InitOptions {
  std::string data_dir;
  std::vector<std::string> names;  // DNS names and IP addresses agents and clients use to reach the collector
  bool force = false;              // replace an existing CA, server certificate and secret
  std::string secret_out;          // also write the secret here (0600), for configuration management
  int64_t ca_lifetime_seconds = 10LL * 365 * 86400;
  int64_t server_cert_lifetime_seconds = 825LL * 86400;
};

struct InitResult {
  PkiPaths paths;
  std::string secret;  // printed once; only its SHA-256 is stored
  std::string ca_serial;
  std::string server_serial;
  int64_t server_not_after = 0;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
};

// Creates DATA (0700 when it makes it) and DATA/pki (0700) with ca.key and server.key 0600, ca.pem and server.pem
// 0644, enroll-secret.sha256 0600, certs.db 0600. `now_s` is Unix seconds.
Result<InitResult> InitPki(const InitOptions& options, int64_t now_s);

// "a,b, c" -> {"a","b","c"}; empty items are dropped.
std::vector<std::string> SplitNames(const std::string& text);

// The enrollment secret's printed form: "kse_" + 64 hex characters (256 random bits).
Result<std::string> NewEnrollmentSecret();

}  // namespace ksweep::server::pki
