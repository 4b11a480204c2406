#include "server/pki/init.h"

#include <arpa/inet.h>

#include <filesystem>

#include "common/tls/files.h"
#include "common/tls/x509.h"
#include "server/pki/cert_store.h"

namespace ksweep::server::pki {

namespace {

bool IsIpAddress(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

Status CheckDnsName(const std::string& name) {
  if (name.size() > 253) return Status::InvalidArgument("--name '" + name + "': longer than 253 characters");
  for (unsigned char c : name) {
    if (!(std::isalnum(c) || c == '.' || c == '-' || c == '*')) {
      return Status::InvalidArgument("--name '" + name + "': not a DNS name or an IP address");
    }
  }
  return Status::Ok();
}

}  // namespace

std::vector<std::string> SplitNames(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(start, end - start);
    const auto b = item.find_first_not_of(" \t");
    const auto e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
    start = end + 1;
  }
  return out;
}

Result<std::string> NewEnrollmentSecret() {
  auto bytes = tls::RandomBytes(32);
  if (!bytes.ok()) return bytes.status();
  return "kse_" + tls::HexEncode(*bytes);
}

Result<InitResult> InitPki(const InitOptions& o, int64_t now_s) {
  if (o.data_dir.empty()) return Status::InvalidArgument("--data DIR is required");
  if (o.names.empty()) {
    return Status::InvalidArgument("--name HOST[,HOST...] is required: the DNS names or IP addresses agents use");
  }
  InitResult r;
  r.paths = PkiPathsFor(o.data_dir);
  for (const auto& n : o.names) {
    if (IsIpAddress(n)) {
      r.ip_addresses.push_back(n);
    } else {
      if (Status s = CheckDnsName(n); !s.ok()) return s;
      r.dns_names.push_back(n);
    }
  }
  std::error_code ec;
  if (!o.force && (std::filesystem::exists(r.paths.ca_key, ec) || std::filesystem::exists(r.paths.ca_cert, ec))) {
    return Status::InvalidArgument(r.paths.ca_cert + ": a CA already exists in this data dir; pass --force to replace "
                                   "it (every enrolled agent must then enroll again)");
  }
  if (Status s = tls::MakeDir(o.data_dir, 0700); !s.ok()) return s;
  if (Status s = tls::MakeDir(r.paths.dir, 0700); !s.ok()) return s;

  auto ca_key = tls::GenerateKey();
  if (!ca_key.ok()) return ca_key.status();
  tls::CertSpec ca_spec;
  ca_spec.common_name = "ksweep collector CA";
  ca_spec.not_before = now_s - 300;
  ca_spec.not_after = now_s + o.ca_lifetime_seconds;
  auto ca = tls::SelfSignedCa(*ca_key, ca_spec);
  if (!ca.ok()) return ca.status();

  auto server_key = tls::GenerateKey();
  if (!server_key.ok()) return server_key.status();
  auto server_pub = tls::PublicKeyOf(*server_key);
  if (!server_pub.ok()) return server_pub.status();
  tls::CertSpec server_spec;
  server_spec.common_name = o.names.front().substr(0, 64);
  server_spec.dns_names = r.dns_names;
  server_spec.ip_addresses = r.ip_addresses;
  server_spec.not_before = now_s - 300;
  server_spec.not_after = std::min(now_s + o.server_cert_lifetime_seconds, ca->not_after);
  server_spec.server_auth = true;
  auto server = tls::Issue(ca->pem, *ca_key, *server_pub, server_spec);
  if (!server.ok()) return server.status();

  auto secret = NewEnrollmentSecret();
  if (!secret.ok()) return secret.status();

  // Keys first: a crash part-way leaves no certificate whose key is missing.
  if (Status s = tls::WriteFileAtomic(r.paths.ca_key, *ca_key, tls::kPrivateMode); !s.ok()) return s;
  if (Status s = tls::WriteFileAtomic(r.paths.server_key, *server_key, tls::kPrivateMode); !s.ok()) return s;
  if (Status s = tls::WriteFileAtomic(r.paths.server_cert, server->pem, tls::kPublicMode); !s.ok()) return s;
  if (Status s = tls::WriteFileAtomic(r.paths.secret_hash, tls::Sha256Hex(*secret) + "\n", tls::kPrivateMode);
      !s.ok()) {
    return s;
  }
  if (!o.secret_out.empty()) {
    if (Status s = tls::WriteFileAtomic(o.secret_out, *secret + "\n", tls::kPrivateMode); !s.ok()) return s;
  }
  // The CA certificate last: its presence is what "initialised" means.
  if (Status s = tls::WriteFileAtomic(r.paths.ca_cert, ca->pem, tls::kPublicMode); !s.ok()) return s;
  auto store = CertStore::Open(r.paths.cert_db);
  if (!store.ok()) return store.status();
  (void)(*store)->Audit(now_s * 1'000'000, o.force ? "init-force" : "init", "", ca->serial, "local",
                        "server certificate serial " + server->serial);
  r.secret = std::move(*secret);
  r.ca_serial = ca->serial;
  r.server_serial = server->serial;
  r.server_not_after = server->not_after;
  return r;
}

}  // namespace ksweep::server::pki
