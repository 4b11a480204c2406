#include "server/pki/authority.h"

#include <sys/stat.h>

#include <fmt/format.h>

#include <cctype>

#include "common/atomic_file.h"
#include "common/tls/files.h"

namespace ksweep::server::pki {

Status CheckHostId(const std::string& host_id) {
  if (host_id.empty() || host_id.size() > 64) {
    return Status::InvalidArgument("host id '" + host_id.substr(0, 80) + "': must be 1 to 64 characters");
  }
  for (unsigned char c : host_id) {
    if (!(std::isalnum(c) || c == '.' || c == '_' || c == '-')) {
      return Status::InvalidArgument("host id '" + host_id + "': only letters, digits, '.', '_' and '-' are allowed");
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<Authority>> Authority::Open(const std::string& data_dir, AuthorityOptions options,
                                                   const Clock* clock, LoggerPtr logger) {
  PkiPaths paths = PkiPathsFor(data_dir);
  std::unique_ptr<Authority> a(new Authority(paths, options, clock, logger ? std::move(logger) : NullLogger()));
  const auto read = [&](const std::string& path, std::string* out) -> Status {
    auto text = ReadSmallFile(path, 256 * 1024);
    if (!text.ok()) {
      if (text.status().code() == Status::Code::kNotFound) {
        return Status::NotFound(path + ": missing; run `ksweep-collector init --data " + data_dir +
                                " --name HOST` first (or serve with --insecure)");
      }
      return text.status();
    }
    *out = std::move(*text);
    return Status::Ok();
  };
  if (Status s = read(paths.ca_cert, &a->ca_pem_); !s.ok()) return s;
  if (Status s = read(paths.ca_key, &a->ca_key_pem_); !s.ok()) return s;
  if (Status s = read(paths.secret_hash, &a->secret_hash_); !s.ok()) return s;
  while (!a->secret_hash_.empty() && (a->secret_hash_.back() == '\n' || a->secret_hash_.back() == ' ')) {
    a->secret_hash_.pop_back();
  }
  if (a->secret_hash_.size() != 64) return Status::InvalidArgument(paths.secret_hash + ": not a SHA-256 hex digest");
  // A key readable by others is refused, like ssh does: whoever read it can mint agent identities.
  struct stat st {};
  if (::stat(paths.ca_key.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    return Status::PermissionDenied(paths.ca_key + ": readable by group or others (mode " +
                                    std::to_string(st.st_mode & 0777) + " octal-decimal); chmod 600 it");
  }
  if (auto ca = tls::ParseCert(a->ca_pem_); !ca.ok() || !ca->is_ca) {
    return Status::InvalidArgument(paths.ca_cert + ": not a CA certificate");
  }
  auto store = CertStore::Open(paths.cert_db);
  if (!store.ok()) return store.status();
  a->store_ = std::move(*store);
  return a;
}

bool Authority::SecretMatches(const std::string& secret) const {
  return tls::ConstantTimeEqual(tls::Sha256Hex(secret), secret_hash_);
}

std::string Authority::IdentityOf(const tls::CertInfo& cert) {
  std::string id;
  int found = 0;
  for (const auto& uri : cert.uris) {
    if (uri.rfind(kHostUriPrefix, 0) == 0) {
      id = uri.substr(sizeof(kHostUriPrefix) - 1);
      ++found;
    }
  }
  return found == 1 ? id : std::string();
}

Result<tls::CertInfo> Authority::Sign(const std::string& host_id, const std::string& csr_pem, const std::string& kind,
                                      const std::string& peer) {
  if (Status s = CheckHostId(host_id); !s.ok()) return s;
  auto csr = tls::VerifyCsr(csr_pem);
  if (!csr.ok()) return csr.status();
  const int64_t now_s = clock_->Now() / kMicrosPerSecond;
  tls::CertSpec spec;
  spec.common_name = host_id;
  spec.uris = {std::string(kHostUriPrefix) + host_id};
  spec.not_before = now_s - options_.backdate_seconds;
  spec.not_after = now_s + options_.cert_lifetime_seconds;
  spec.client_auth = true;
  auto cert = tls::Issue(ca_pem_, ca_key_pem_, csr->public_key_pem, spec);
  if (!cert.ok()) return cert.status();
  CertRecord rec;
  rec.serial = cert->serial;
  rec.host_id = host_id;
  rec.not_before = cert->not_before * kMicrosPerSecond;
  rec.not_after = cert->not_after * kMicrosPerSecond;
  rec.issued_at = clock_->Now();
  rec.kind = kind;
  rec.peer = peer;
  // Recorded before it is handed out: a certificate the store does not know is never accepted.
  if (Status s = store_->Insert(rec); !s.ok()) return s;
  return cert;
}

Result<tls::CertInfo> Authority::Enroll(const std::string& host_id, const std::string& csr_pem,
                                        const std::string& peer) {
  auto earlier = store_->ForHost(host_id);
  if (!earlier.ok()) return earlier.status();
  const std::string kind = earlier->empty() ? "enroll" : "re-enroll";
  auto cert = Sign(host_id, csr_pem, "enroll", peer);
  if (!cert.ok()) return cert;
  const std::string detail = earlier->empty() ? "first certificate"
                                              : "earlier certificates=" + std::to_string(earlier->size()) +
                                                    " newest_serial=" + earlier->front().serial;
  (void)store_->Audit(clock_->Now(), kind, host_id, cert->serial, peer, detail);
  logger_->info("event=audit action={} host_id={} serial={} peer={} not_after={} {}", kind, host_id, cert->serial,
                peer, cert->not_after, detail);
  return cert;
}

Result<tls::CertInfo> Authority::Renew(const tls::CertInfo& current, const std::string& csr_pem,
                                       const std::string& peer) {
  auto host = CheckPeer(current);
  if (!host.ok()) return host.status();
  auto cert = Sign(*host, csr_pem, "renew", peer);
  if (!cert.ok()) return cert;
  (void)store_->Audit(clock_->Now(), "renew", *host, cert->serial, peer, "replaces serial " + current.serial);
  logger_->info("event=audit action=renew host_id={} serial={} replaces={} peer={} not_after={}", *host, cert->serial,
                current.serial, peer, cert->not_after);
  return cert;
}

Result<std::string> Authority::CheckPeer(const tls::CertInfo& cert) const {
  const std::string id = IdentityOf(cert);
  if (id.empty()) {
    return Status::PermissionDenied("client certificate serial " + cert.serial + ": names no ksweep host (" +
                                    kHostUriPrefix + "ID URI)");
  }
  const int64_t now_s = clock_->Now() / kMicrosPerSecond;
  if (now_s > cert.not_after || now_s < cert.not_before) {
    return Status::PermissionDenied("client certificate serial " + cert.serial + " of host '" + id +
                                    "': outside its validity period");
  }
  auto rec = store_->Find(cert.serial);
  if (!rec.ok()) {
    if (rec.status().code() == Status::Code::kNotFound) {
      return Status::PermissionDenied("client certificate serial " + cert.serial + " of host '" + id +
                                      "': not issued by this collector");
    }
    return rec.status();
  }
  if (rec->host_id != id) {
    return Status::PermissionDenied("client certificate serial " + cert.serial + ": issued to host '" + rec->host_id +
                                    "', names '" + id + "'");
  }
  if (rec->revoked_at != 0) {
    return Status::PermissionDenied("client certificate serial " + cert.serial + " of host '" + id + "': revoked");
  }
  return id;
}

Result<int> Authority::Revoke(const std::string& host_id, const std::string& actor) {
  auto n = store_->RevokeHost(host_id, clock_->Now());
  if (!n.ok()) return n;
  (void)store_->Audit(clock_->Now(), "revoke", host_id, "", actor, "certificates revoked=" + std::to_string(*n));
  logger_->warn("event=audit action=revoke host_id={} certificates={} actor={}", host_id, *n, actor);
  return n;
}

void Authority::AuditRefusal(const std::string& event, const std::string& host_id, const std::string& peer,
                             const std::string& detail) const {
  (void)store_->Audit(clock_->Now(), event, host_id, "", peer, detail);
  logger_->warn("event=security action={} host_id={} peer={} detail=\"{}\"", event, host_id, peer, detail);
}

}  // namespace ksweep::server::pki
