// The collector's certificate authority at run time: signs agent certificates on enrollment and renewal, answers
// whether a client certificate may connect, and revokes. Reads DATA/pki as `ksweep-collector init` left it.
//
// For the AdminService (`ksweep hosts revoke HOST`): call Collector::RevokeHost (server/collector.h), which revokes
// here and then drops the host's live agent streams. Authority::Revoke alone leaves open streams running.
#pragma once

#include <memory>
#include <string>

#include "common/logging.h"
#include "common/status.h"
#include "common/tls/x509.h"
#include "server/clock.h"
#include "server/pki/cert_store.h"
#include "server/pki/paths.h"

namespace ksweep::server::pki {

struct AuthorityOptions {
  int64_t cert_lifetime_seconds = 365 * 86400;  // agent certificates
  // Backdating absorbs clock skew between collector and agents.
  int64_t backdate_seconds = 300;
};

class Authority {
 public:
  // kNotFound (naming the file and `ksweep-collector init`) when the data dir has no PKI.
  static Result<std::unique_ptr<Authority>> Open(const std::string& data_dir, AuthorityOptions options,
                                                 const Clock* clock, LoggerPtr logger);

  const PkiPaths& paths() const { return paths_; }
  const std::string& ca_pem() const { return ca_pem_; }

  // Constant-time comparison of SHA-256(secret) with the stored hash.
  bool SecretMatches(const std::string& secret) const;

  // Signs a certificate for `host_id` from `csr_pem` (its signature must verify with its own key). The caller has
  // checked the secret. A host id that already has certificates is a re-enrollment: allowed, audited as such.
  Result<tls::CertInfo> Enroll(const std::string& host_id, const std::string& csr_pem, const std::string& peer);

  // A new certificate for the identity of `current` (already checked with CheckPeer).
  Result<tls::CertInfo> Renew(const tls::CertInfo& current, const std::string& csr_pem, const std::string& peer);

  // The host id a verified client certificate may act as. kPermissionDenied for a certificate this collector did not
  // issue (unknown serial), one revoked, expired, or without a ksweep host URI.
  Result<std::string> CheckPeer(const tls::CertInfo& cert) const;

  // Revokes every certificate of `host_id`; returns how many were live. `actor` names who asked (audit).
  Result<int> Revoke(const std::string& host_id, const std::string& actor);

  // Records a refused attempt in the audit table (wrong secret, flood, identity mismatch).
  void AuditRefusal(const std::string& event, const std::string& host_id, const std::string& peer,
                    const std::string& detail) const;

  CertStore* store() const { return store_.get(); }

  // The host id a certificate names through its ksweep URI SAN; empty when it names none (or more than one).
  static std::string IdentityOf(const tls::CertInfo& cert);

 private:
  Authority(PkiPaths paths, AuthorityOptions options, const Clock* clock, LoggerPtr logger)
      : paths_(std::move(paths)), options_(options), clock_(clock), logger_(std::move(logger)) {}
  Result<tls::CertInfo> Sign(const std::string& host_id, const std::string& csr_pem, const std::string& kind,
                             const std::string& peer);

  const PkiPaths paths_;
  const AuthorityOptions options_;
  const Clock* const clock_;
  const LoggerPtr logger_;
  std::string ca_pem_;
  std::string ca_key_pem_;
  std::string secret_hash_;
  std::unique_ptr<CertStore> store_;
};

// Host ids that may go in a certificate: 1 to 64 bytes of [A-Za-z0-9._-] (agents send 32 hex characters).
Status CheckHostId(const std::string& host_id);

}  // namespace ksweep::server::pki
