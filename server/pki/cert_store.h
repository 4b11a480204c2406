// The state of issued agent certificates, apart from fleet data: certs.db (SQLite, 0600) in DATA/pki. Serials are
// recorded when issued, so a certificate the store does not know (a lost database, another CA's) is refused.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "server/clock.h"

namespace ksweep::server::sqlite {
class Db;
}

namespace ksweep::server::pki {

struct CertRecord {
  std::string serial;
  std::string host_id;
  Micros not_before = 0;
  Micros not_after = 0;
  Micros issued_at = 0;
  std::string kind;  // "enroll" or "renew"
  std::string peer;  // source address of the request
  Micros revoked_at = 0;  // 0: valid
};

class CertStore {
 public:
  // Creates the file 0600 when missing; an existing file is set back to 0600.
  static Result<std::unique_ptr<CertStore>> Open(const std::string& path);
  ~CertStore();

  Status Insert(const CertRecord& record);
  // kNotFound when the serial was never issued here.
  Result<CertRecord> Find(const std::string& serial);
  // Certificates ever issued to the host, newest first.
  Result<std::vector<CertRecord>> ForHost(const std::string& host_id);
  // Marks every unrevoked certificate of the host revoked; returns how many.
  Result<int> RevokeHost(const std::string& host_id, Micros now);
  // One audit line (enroll, re-enroll, renew, revoke, refusals), kept with the certificate state.
  Status Audit(Micros at, const std::string& event, const std::string& host_id, const std::string& serial,
               const std::string& peer, const std::string& detail);
  // The audit lines of a host (or of every host when empty), oldest first: "event host serial peer detail".
  Result<std::vector<std::string>> AuditLines(const std::string& host_id);

 private:
  explicit CertStore(std::unique_ptr<sqlite::Db> db);
  std::mutex mu_;
  std::unique_ptr<sqlite::Db> db_;  // guarded by mu_
};

}  // namespace ksweep::server::pki
