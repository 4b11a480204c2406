#include "server/pki/cert_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/tls/files.h"
#include "server/store/sqlite_util.h"

namespace ksweep::server::pki {

using sqlite::Db;
using sqlite::Stmt;

namespace {

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS certs(
  serial TEXT PRIMARY KEY,
  host_id TEXT NOT NULL,
  not_before INTEGER NOT NULL,
  not_after INTEGER NOT NULL,
  issued_at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  peer TEXT NOT NULL,
  revoked_at INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS certs_by_host ON certs(host_id, issued_at);
CREATE TABLE IF NOT EXISTS audit(
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  event TEXT NOT NULL,
  host_id TEXT NOT NULL,
  serial TEXT NOT NULL,
  peer TEXT NOT NULL,
  detail TEXT NOT NULL);
)sql";

CertRecord Row(const Stmt& s) {
  CertRecord r;
  r.serial = s.Text(0);
  r.host_id = s.Text(1);
  r.not_before = s.Int(2);
  r.not_after = s.Int(3);
  r.issued_at = s.Int(4);
  r.kind = s.Text(5);
  r.peer = s.Text(6);
  r.revoked_at = s.Int(7);
  return r;
}

constexpr char kColumns[] = "serial, host_id, not_before, not_after, issued_at, kind, peer, revoked_at";

}  // namespace

CertStore::CertStore(std::unique_ptr<Db> db) : db_(std::move(db)) {}
CertStore::~CertStore() = default;

Result<std::unique_ptr<CertStore>> CertStore::Open(const std::string& path) {
  // Made 0600 before SQLite opens it: SQLite gives its journal files the database file's mode.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, tls::kPrivateMode);
  if (fd < 0) return Status::IoError("certificate database '" + path + "': cannot open: " + std::strerror(errno));
  const int rc = ::fchmod(fd, tls::kPrivateMode);
  ::close(fd);
  if (rc != 0) return Status::IoError("certificate database '" + path + "': cannot chmod 0600");
  auto db = Db::Open(path, true);
  if (!db.ok()) return db.status();
  if (Status s = (*db)->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"); !s.ok()) return s;
  if (Status s = (*db)->Exec(kSchema); !s.ok()) return s;
  return std::unique_ptr<CertStore>(new CertStore(std::move(*db)));
}

Status CertStore::Insert(const CertRecord& r) {
  std::lock_guard<std::mutex> lock(mu_);
  auto s = Stmt::Prepare(*db_, std::string("INSERT INTO certs(") + kColumns + ") VALUES(?,?,?,?,?,?,?,?)");
  if (!s.ok()) return s.status();
  s->Bind(1, r.serial).Bind(2, r.host_id).Bind(3, r.not_before).Bind(4, r.not_after).Bind(5, r.issued_at);
  s->Bind(6, r.kind).Bind(7, r.peer).Bind(8, r.revoked_at);
  return s->Run();
}

Result<CertRecord> CertStore::Find(const std::string& serial) {
  std::lock_guard<std::mutex> lock(mu_);
  auto s = Stmt::Prepare(*db_, std::string("SELECT ") + kColumns + " FROM certs WHERE serial = ?");
  if (!s.ok()) return s.status();
  s->Bind(1, serial);
  auto row = s->Step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("certificate serial " + serial + ": not issued by this collector");
  return Row(*s);
}

Result<std::vector<CertRecord>> CertStore::ForHost(const std::string& host_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto s = Stmt::Prepare(*db_, std::string("SELECT ") + kColumns +
                                   " FROM certs WHERE host_id = ? ORDER BY issued_at DESC, serial");
  if (!s.ok()) return s.status();
  s->Bind(1, host_id);
  std::vector<CertRecord> out;
  for (;;) {
    auto row = s->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(Row(*s));
  }
  return out;
}

Result<int> CertStore::RevokeHost(const std::string& host_id, Micros now) {
  std::lock_guard<std::mutex> lock(mu_);
  auto s = Stmt::Prepare(*db_, "UPDATE certs SET revoked_at = ? WHERE host_id = ? AND revoked_at = 0");
  if (!s.ok()) return s.status();
  s->Bind(1, now).Bind(2, host_id);
  if (Status st = s->Run(); !st.ok()) return st;
  return sqlite3_changes(db_->get());
}

Status CertStore::Audit(Micros at, const std::string& event, const std::string& host_id, const std::string& serial,
                        const std::string& peer, const std::string& detail) {
  std::lock_guard<std::mutex> lock(mu_);
  auto s = Stmt::Prepare(*db_, "INSERT INTO audit(at, event, host_id, serial, peer, detail) VALUES(?,?,?,?,?,?)");
  if (!s.ok()) return s.status();
  s->Bind(1, at).Bind(2, event).Bind(3, host_id).Bind(4, serial).Bind(5, peer).Bind(6, detail);
  return s->Run();
}

Result<std::vector<std::string>> CertStore::AuditLines(const std::string& host_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto s = Stmt::Prepare(*db_, "SELECT event, host_id, serial, peer, detail FROM audit WHERE ? = '' OR host_id = ? "
                               "ORDER BY id");
  if (!s.ok()) return s.status();
  s->Bind(1, host_id).Bind(2, host_id);
  std::vector<std::string> out;
  for (;;) {
    auto row = s->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(s->Text(0) + " " + s->Text(1) + " " + s->Text(2) + " " + s->Text(3) + " " + s->Text(4));
  }
  return out;
}

}  // namespace ksweep::server::pki
