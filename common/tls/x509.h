// EC P-256 keys, certificate requests and certificates with OpenSSL 3. PEM strings are the currency: nothing of
// OpenSSL shows in this header, and every error names what was being parsed or built.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace ksweep::tls {

// A new EC P-256 private key, PKCS#8 PEM.
Result<std::string> GenerateKey();

// The SubjectPublicKeyInfo PEM of a private key.
Result<std::string> PublicKeyOf(const std::string& key_pem);

// What a certificate says about its subject. Times are Unix seconds.
struct CertSpec {
  std::string common_name;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;  // "10.0.0.1", "::1"
  std::vector<std::string> uris;          // "ksweep://host/<id>"
  int64_t not_before = 0;
  int64_t not_after = 0;
  bool is_ca = false;
  bool server_auth = false;  // extendedKeyUsage serverAuth
  bool client_auth = false;  // extendedKeyUsage clientAuth
};

struct CertInfo {
  std::string pem;
  std::string serial;  // lower-case hex, no leading zeros
  std::string common_name;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  std::vector<std::string> uris;
  int64_t not_before = 0;
  int64_t not_after = 0;
  bool is_ca = false;
};

// A self-signed CA certificate for `key_pem` (spec.is_ca is forced on).
Result<CertInfo> SelfSignedCa(const std::string& key_pem, CertSpec spec);

// A certificate for `subject_public_key_pem` signed by the CA. The serial is 128 random bits (positive, non-zero).
Result<CertInfo> Issue(const std::string& ca_cert_pem, const std::string& ca_key_pem,
                       const std::string& subject_public_key_pem, const CertSpec& spec);

// A PKCS#10 request for `key_pem`, subject CN `common_name`, signed with that key.
Result<std::string> MakeCsr(const std::string& key_pem, const std::string& common_name);

struct CsrInfo {
  std::string public_key_pem;
  std::string common_name;
};

// Parses a request and checks its self-signature: a request whose signature does not verify with the public key it
// carries (signed by another key, or altered) is kInvalidArgument. Only P-256 keys are accepted.
Result<CsrInfo> VerifyCsr(const std::string& csr_pem);

// Parses one PEM certificate (the first of a chain).
Result<CertInfo> ParseCert(const std::string& cert_pem);

// True when `key_pem` is the private key of `cert_pem`.
Result<bool> KeyMatchesCert(const std::string& key_pem, const std::string& cert_pem);

// Cryptographically random bytes (RAND_bytes).
Result<std::string> RandomBytes(size_t n);
std::string HexEncode(const std::string& bytes);
// SHA-256 of `data`, lower-case hex.
std::string Sha256Hex(const std::string& data);
// Compares two strings in time that depends on their length only (CRYPTO_memcmp).
bool ConstantTimeEqual(const std::string& a, const std::string& b);

}  // namespace ksweep::tls
