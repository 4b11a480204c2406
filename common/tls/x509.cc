#include "common/tls/x509.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <ctime>
#include <memory>

namespace ksweep::tls {
namespace {

template <auto Fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Fn(p);
  }
};
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using ReqPtr = std::unique_ptr<X509_REQ, Deleter<X509_REQ_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using NamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;

constexpr size_t kMaxPemBytes = 64 * 1024;
constexpr size_t kMaxCommonNameBytes = 64;  // ub-common-name (RFC 5280)

// The OpenSSL error queue as text (emptied), for the end of a message.
std::string SslError() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no OpenSSL detail" : out;
}

Status Fail(const std::string& what) { return Status::InvalidArgument(what + " (" + SslError() + ")"); }

Result<BioPtr> ReadBio(const std::string& pem, const std::string& what) {
  if (pem.empty()) return Status::InvalidArgument(what + ": empty");
  if (pem.size() > kMaxPemBytes) {
    return Status::InvalidArgument(what + ": larger than " + std::to_string(kMaxPemBytes) + " bytes");
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return Status::Internal(what + ": out of memory");
  return bio;
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

Result<KeyPtr> LoadPrivateKey(const std::string& pem) {
  auto bio = ReadBio(pem, "private key");
  if (!bio.ok()) return bio.status();
  KeyPtr key(PEM_read_bio_PrivateKey(bio->get(), nullptr, nullptr, nullptr));
  if (!key) return Fail("private key: not a PEM private key");
  return key;
}

Result<KeyPtr> LoadPublicKey(const std::string& pem) {
  auto bio = ReadBio(pem, "public key");
  if (!bio.ok()) return bio.status();
  KeyPtr key(PEM_read_bio_PUBKEY(bio->get(), nullptr, nullptr, nullptr));
  if (!key) return Fail("public key: not a PEM public key");
  return key;
}

Result<X509Ptr> LoadCert(const std::string& pem, const std::string& what) {
  auto bio = ReadBio(pem, what);
  if (!bio.ok()) return bio.status();
  X509Ptr cert(PEM_read_bio_X509(bio->get(), nullptr, nullptr, nullptr));
  if (!cert) return Fail(what + ": not a PEM certificate");
  return cert;
}

Status CheckP256(EVP_PKEY* key, const std::string& what) {
  char group[64] = {};
  size_t len = 0;
  if (EVP_PKEY_is_a(key, "EC") != 1 || EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &len) != 1 ||
      std::string(group) != "prime256v1") {
    ERR_clear_error();
    return Status::InvalidArgument(what + ": not an EC P-256 key (only P-256 is accepted)");
  }
  return Status::Ok();
}

Status CheckText(const std::string& text, const std::string& what, size_t max) {
  if (text.empty()) return Status::InvalidArgument(what + ": empty");
  if (text.size() > max) return Status::InvalidArgument(what + ": longer than " + std::to_string(max) + " bytes");
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) return Status::InvalidArgument(what + " '" + text + "': control characters");
  }
  return Status::Ok();
}

std::string AsnText(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), static_cast<size_t>(ASN1_STRING_length(s)));
}

int64_t AsnTime(const ASN1_TIME* t) {
  struct tm tm = {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

Status AddExt(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return Status::Internal(std::string("certificate extension ") + OBJ_nid2sn(nid) + "=" + value + " (" +
                            SslError() + ")");
  }
  return Status::Ok();
}

// Subject alternative names built as ASN.1 values, not through OpenSSL's config-string parser: a host id holding a
// comma or a colon must not be able to add a name of its own.
Status AddSans(X509* cert, const CertSpec& spec) {
  if (spec.dns_names.empty() && spec.ip_addresses.empty() && spec.uris.empty()) return Status::Ok();
  NamesPtr names(GENERAL_NAMES_new());
  if (!names) return Status::Internal("subjectAltName: out of memory");
  const auto add_ia5 = [&](int type, const std::string& value, const char* what) -> Status {
    if (Status s = CheckText(value, what, 1024); !s.ok()) return s;
    ASN1_IA5STRING* ia5 = ASN1_IA5STRING_new();
    GENERAL_NAME* gn = GENERAL_NAME_new();
    if (ia5 == nullptr || gn == nullptr || ASN1_STRING_set(ia5, value.data(), static_cast<int>(value.size())) != 1) {
      ASN1_IA5STRING_free(ia5);
      GENERAL_NAME_free(gn);
      return Status::Internal(std::string(what) + ": out of memory");
    }
    GENERAL_NAME_set0_value(gn, type, ia5);
    sk_GENERAL_NAME_push(names.get(), gn);
    return Status::Ok();
  };
  for (const auto& d : spec.dns_names) {
    if (Status s = add_ia5(GEN_DNS, d, "DNS name"); !s.ok()) return s;
  }
  for (const auto& u : spec.uris) {
    if (Status s = add_ia5(GEN_URI, u, "URI name"); !s.ok()) return s;
  }
  for (const auto& ip : spec.ip_addresses) {
    ASN1_OCTET_STRING* octets = a2i_IPADDRESS(ip.c_str());
    if (octets == nullptr) {
      ERR_clear_error();
      return Status::InvalidArgument("IP address '" + ip + "': not an IPv4 or IPv6 address");
    }
    GENERAL_NAME* gn = GENERAL_NAME_new();
    if (gn == nullptr) {
      ASN1_OCTET_STRING_free(octets);
      return Status::Internal("IP address: out of memory");
    }
    GENERAL_NAME_set0_value(gn, GEN_IPADD, octets);
    sk_GENERAL_NAME_push(names.get(), gn);
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return Status::Internal("subjectAltName: cannot add (" + SslError() + ")");
  }
  return Status::Ok();
}

Status SetRandomSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return Status::Internal("serial: RAND_bytes failed (" + SslError() + ")");
  bytes[0] &= 0x7f;  // positive as a DER INTEGER
  bytes[0] |= 0x40;  // and never zero, never shorter than 127 bits
  BnPtr bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    return Status::Internal("serial: cannot set (" + SslError() + ")");
  }
  return Status::Ok();
}

// Builds and signs. `issuer` null: self-signed with `signing_key`.
Result<CertInfo> Build(X509* issuer, EVP_PKEY* signing_key, EVP_PKEY* subject_key, const CertSpec& spec) {
  if (Status s = CheckText(spec.common_name, "common name", kMaxCommonNameBytes); !s.ok()) return s;
  if (spec.not_after <= spec.not_before) {
    return Status::InvalidArgument("certificate for '" + spec.common_name + "': not_after is not after not_before");
  }
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) return Status::Internal("certificate: out of memory");
  if (Status s = SetRandomSerial(cert.get()); !s.ok()) return s;
  if (ASN1_TIME_set(X509_getm_notBefore(cert.get()), static_cast<time_t>(spec.not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()), static_cast<time_t>(spec.not_after)) == nullptr) {
    return Status::Internal("certificate validity: cannot set (" + SslError() + ")");
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(spec.common_name.data()),
                                 static_cast<int>(spec.common_name.size()), -1, 0) != 1) {
    return Fail("common name '" + spec.common_name + "'");
  }
  if (X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name) != 1 ||
      X509_set_pubkey(cert.get(), subject_key) != 1) {
    return Status::Internal("certificate: cannot set issuer or key (" + SslError() + ")");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
  Status s = AddExt(cert.get(), &ctx, NID_basic_constraints, spec.is_ca ? "critical,CA:TRUE,pathlen:0" : "critical,CA:FALSE");
  if (s.ok()) {
    s = AddExt(cert.get(), &ctx, NID_key_usage,
               spec.is_ca ? "critical,keyCertSign,cRLSign,digitalSignature" : "critical,digitalSignature");
  }
  if (s.ok() && (spec.server_auth || spec.client_auth)) {
    const char* eku = spec.server_auth && spec.client_auth ? "serverAuth,clientAuth"
                      : spec.server_auth                   ? "serverAuth"
                                                           : "clientAuth";
    s = AddExt(cert.get(), &ctx, NID_ext_key_usage, eku);
  }
  if (s.ok()) s = AddExt(cert.get(), &ctx, NID_subject_key_identifier, "hash");
  if (s.ok() && issuer != nullptr) s = AddExt(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");
  if (s.ok()) s = AddSans(cert.get(), spec);
  if (!s.ok()) return s;
  if (X509_sign(cert.get(), signing_key, EVP_sha256()) <= 0) {
    return Status::Internal("certificate for '" + spec.common_name + "': signing failed (" + SslError() + ")");
  }
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_X509(out.get(), cert.get()) != 1) return Status::Internal("certificate: cannot write PEM");
  return ParseCert(BioText(out.get()));
}

}  // namespace

Result<std::string> GenerateKey() {
  KeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return Status::Internal("EC P-256 key generation failed (" + SslError() + ")");
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_PrivateKey(out.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return Status::Internal("private key: cannot write PEM (" + SslError() + ")");
  }
  return BioText(out.get());
}

Result<std::string> PublicKeyOf(const std::string& key_pem) {
  auto key = LoadPrivateKey(key_pem);
  if (!key.ok()) return key.status();
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_PUBKEY(out.get(), key->get()) != 1) return Status::Internal("public key: cannot write PEM");
  return BioText(out.get());
}

Result<CertInfo> SelfSignedCa(const std::string& key_pem, CertSpec spec) {
  auto key = LoadPrivateKey(key_pem);
  if (!key.ok()) return key.status();
  spec.is_ca = true;
  spec.server_auth = spec.client_auth = false;
  return Build(nullptr, key->get(), key->get(), spec);
}

Result<CertInfo> Issue(const std::string& ca_cert_pem, const std::string& ca_key_pem,
                       const std::string& subject_public_key_pem, const CertSpec& spec) {
  auto ca = LoadCert(ca_cert_pem, "CA certificate");
  if (!ca.ok()) return ca.status();
  auto ca_key = LoadPrivateKey(ca_key_pem);
  if (!ca_key.ok()) return Status::InvalidArgument("CA key: " + ca_key.status().message());
  if (X509_check_private_key(ca->get(), ca_key->get()) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument("CA key does not belong to the CA certificate");
  }
  auto subject = LoadPublicKey(subject_public_key_pem);
  if (!subject.ok()) return subject.status();
  if (Status s = CheckP256(subject->get(), "subject key"); !s.ok()) return s;
  return Build(ca->get(), ca_key->get(), subject->get(), spec);
}

Result<std::string> MakeCsr(const std::string& key_pem, const std::string& common_name) {
  if (Status s = CheckText(common_name, "common name", kMaxCommonNameBytes); !s.ok()) return s;
  auto key = LoadPrivateKey(key_pem);
  if (!key.ok()) return key.status();
  ReqPtr req(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), 0) != 1) return Status::Internal("request: out of memory");
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(common_name.data()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1 ||
      X509_REQ_set_pubkey(req.get(), key->get()) != 1 || X509_REQ_sign(req.get(), key->get(), EVP_sha256()) <= 0) {
    return Fail("request for '" + common_name + "'");
  }
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_X509_REQ(out.get(), req.get()) != 1) return Status::Internal("request: cannot write PEM");
  return BioText(out.get());
}

Result<CsrInfo> VerifyCsr(const std::string& csr_pem) {
  auto bio = ReadBio(csr_pem, "certificate request");
  if (!bio.ok()) return bio.status();
  ReqPtr req(PEM_read_bio_X509_REQ(bio->get(), nullptr, nullptr, nullptr));
  if (!req) return Fail("certificate request: not a PEM PKCS#10 request");
  EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
  if (key == nullptr) return Fail("certificate request: no public key");
  if (Status s = CheckP256(key, "certificate request key"); !s.ok()) return s;
  if (X509_REQ_verify(req.get(), key) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument(
        "certificate request: its signature does not verify with the key it carries (signed by another key, or "
        "altered)");
  }
  CsrInfo info;
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_PUBKEY(out.get(), key) != 1) return Status::Internal("request key: cannot write PEM");
  info.public_key_pem = BioText(out.get());
  const X509_NAME* name = X509_REQ_get_subject_name(req.get());
  const int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx >= 0) info.common_name = AsnText(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
  return info;
}

Result<CertInfo> ParseCert(const std::string& cert_pem) {
  auto cert = LoadCert(cert_pem, "certificate");
  if (!cert.ok()) return cert.status();
  X509* x = cert->get();
  CertInfo info;
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_X509(out.get(), x) != 1) return Status::Internal("certificate: cannot write PEM");
  info.pem = BioText(out.get());
  BnPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), nullptr));
  if (!serial) return Fail("certificate serial");
  char* hex = BN_bn2hex(serial.get());
  if (hex == nullptr) return Status::Internal("certificate serial: out of memory");
  info.serial = hex;
  OPENSSL_free(hex);
  for (char& c : info.serial) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const size_t nz = info.serial.find_first_not_of('0');
  info.serial = nz == std::string::npos ? "0" : info.serial.substr(nz);
  const X509_NAME* name = X509_get_subject_name(x);
  const int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx >= 0) info.common_name = AsnText(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
  NamesPtr names(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr)));
  if (names) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
      if (gn->type == GEN_DNS) info.dns_names.push_back(AsnText(gn->d.dNSName));
      if (gn->type == GEN_URI) info.uris.push_back(AsnText(gn->d.uniformResourceIdentifier));
      if (gn->type == GEN_IPADD) {
        const std::string raw = AsnText(gn->d.iPAddress);
        char text[INET6_ADDRSTRLEN] = {};
        if (raw.size() == 4 && inet_ntop(AF_INET, raw.data(), text, sizeof text) != nullptr) {
          info.ip_addresses.push_back(text);
        } else if (raw.size() == 16 && inet_ntop(AF_INET6, raw.data(), text, sizeof text) != nullptr) {
          info.ip_addresses.push_back(text);
        }
      }
    }
  }
  info.not_before = AsnTime(X509_get0_notBefore(x));
  info.not_after = AsnTime(X509_get0_notAfter(x));
  info.is_ca = X509_check_ca(x) > 0;
  ERR_clear_error();
  return info;
}

Result<bool> KeyMatchesCert(const std::string& key_pem, const std::string& cert_pem) {
  auto key = LoadPrivateKey(key_pem);
  if (!key.ok()) return key.status();
  auto cert = LoadCert(cert_pem, "certificate");
  if (!cert.ok()) return cert.status();
  return EVP_PKEY_eq(X509_get0_pubkey(cert->get()), key->get()) == 1;
}

Result<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return Status::Internal("RAND_bytes failed (" + SslError() + ")");
  }
  return out;
}

std::string HexEncode(const std::string& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return HexEncode(std::string(reinterpret_cast<const char*>(digest), len));
}

bool ConstantTimeEqual(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace ksweep::tls
