// TokenStore on SQLite: one small table in its own file (tokens.db), 0600. SQLite gives its journal the mode of
// the database file, so the journal is 0600 too. One connection behind a mutex: token lookups are short point
// reads and the API's rate is bounded.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "server/auth/token_store.h"
#include "server/store/sqlite_util.h"

namespace ksweep::server::auth {
namespace {

using sqlite::Db;
using sqlite::Stmt;

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('viewer', 'admin')),
  hash BLOB NOT NULL UNIQUE,
  created INTEGER NOT NULL,
  expires INTEGER NOT NULL DEFAULT 0,
  revoked INTEGER NOT NULL DEFAULT 0,
  revoked_at INTEGER NOT NULL DEFAULT 0,
  last_used INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS tokens_live_name ON tokens(name) WHERE revoked = 0;
)sql";

constexpr char kColumns[] = "id, name, role, created, expires, revoked, revoked_at, last_used, hash";

TokenRecord Read(const Stmt& st, bool with_hash) {
  TokenRecord r;
  r.id = st.Text(0);
  r.name = st.Text(1);
  r.role = st.Text(2) == "admin" ? Role::kAdmin : Role::kViewer;
  r.created = st.Int(3);
  r.expires = st.Int(4);
  r.revoked = st.Int(5) != 0;
  r.revoked_at = st.Int(6);
  r.last_used = st.Int(7);
  if (with_hash) r.hash = st.Blob(8);
  return r;
}

class SqliteTokenStore final : public TokenStore {
 public:
  explicit SqliteTokenStore(std::unique_ptr<Db> db) : db_(std::move(db)) {}

  Status Insert(const TokenRecord& r) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto st = Stmt::Prepare(*db_, "INSERT INTO tokens (id, name, role, hash, created, expires) VALUES (?,?,?,?,?,?)");
    if (!st.ok()) return st.status();
    st->Bind(1, r.id).Bind(2, r.name).Bind(3, RoleName(r.role)).BindBlob(4, r.hash).Bind(5, r.created).Bind(6, r.expires);
    Status s = st->Run();
    if (!s.ok() && sqlite3_extended_errcode(db_->get()) == SQLITE_CONSTRAINT_UNIQUE) {
      return Status::InvalidArgument("token name '" + r.name + "' is already in use by a live token");
    }
    return s;
  }

  Result<TokenRecord> FindByHash(const std::string& hash) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto st = Stmt::Prepare(*db_, std::string("SELECT ") + kColumns + " FROM tokens WHERE hash = ?");
    if (!st.ok()) return st.status();
    st->BindBlob(1, hash);
    auto row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::NotFound("no such token");
    return Read(*st, true);
  }

  Result<std::vector<TokenRecord>> List() override {
    std::lock_guard<std::mutex> lock(mu_);
    auto st = Stmt::Prepare(*db_, std::string("SELECT ") + kColumns + " FROM tokens ORDER BY created DESC, id");
    if (!st.ok()) return st.status();
    std::vector<TokenRecord> out;
    for (;;) {
      auto row = st->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      out.push_back(Read(*st, false));
    }
    return out;
  }

  Result<TokenRecord> Revoke(const std::string& name_or_id, Micros now) override {
    std::lock_guard<std::mutex> lock(mu_);
    // A live token by name first, then any token by id.
    auto find = Stmt::Prepare(*db_, std::string("SELECT ") + kColumns +
                                        " FROM tokens WHERE (name = ?1 AND revoked = 0) OR id = ?1"
                                        " ORDER BY (name = ?1 AND revoked = 0) DESC LIMIT 1");
    if (!find.ok()) return find.status();
    find->Bind(1, name_or_id);
    auto row = find->Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::NotFound("no live token named '" + name_or_id + "' and no token with that id");
    TokenRecord r = Read(*find, false);
    if (r.revoked) return r;
    auto upd = Stmt::Prepare(*db_, "UPDATE tokens SET revoked = 1, revoked_at = ? WHERE id = ?");
    if (!upd.ok()) return upd.status();
    upd->Bind(1, now).Bind(2, r.id);
    if (Status s = upd->Run(); !s.ok()) return s;
    r.revoked = true;
    r.revoked_at = now;
    return r;
  }

  Status SetLastUsed(const std::string& id, Micros when) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto st = Stmt::Prepare(*db_, "UPDATE tokens SET last_used = ? WHERE id = ? AND last_used < ?");
    if (!st.ok()) return st.status();
    st->Bind(1, when).Bind(2, id).Bind(3, when);
    return st->Run();
  }

 private:
  std::mutex mu_;
  std::unique_ptr<Db> db_;
};

}  // namespace

std::string TokenStorePath(const std::string& data_dir) {
  return (std::filesystem::path(data_dir) / kTokenStoreFile).string();
}

Result<TokenStorePtr> OpenSqliteTokenStore(const std::string& path) {
  // Created (or put back) at 0600 before SQLite opens it: SQLite would create it 0644 less the umask.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::IoError("token store '" + path + "': cannot open: " + std::strerror(errno));
  const int chmod_rc = ::fchmod(fd, 0600);
  const int chmod_errno = errno;
  ::close(fd);
  if (chmod_rc != 0) {
    return Status::IoError("token store '" + path + "': cannot set mode 0600: " + std::strerror(chmod_errno));
  }
  auto db = Db::Open(path, false);
  if (!db.ok()) return db.status();
  if (Status s = (*db)->Exec(kSchema); !s.ok()) return s;
  return TokenStorePtr(new SqliteTokenStore(std::move(*db)));
}

Result<NewToken> CreateToken(TokenStore* store, const std::string& name, Role role, Micros now, Micros expires) {
  auto token = MakeToken(name, role, now, expires);
  if (!token.ok()) return token.status();
  if (Status s = store->Insert(token->record); !s.ok()) return s;
  return token;
}

Result<NewToken> CreateTokenInDataDir(const std::string& data_dir, const std::string& name, Role role, Micros now,
                                      Micros expires) {
  std::error_code ec;
  if (!std::filesystem::is_directory(data_dir, ec)) {
    return Status::InvalidArgument("data dir '" + data_dir + "': not a directory");
  }
  auto store = OpenSqliteTokenStore(TokenStorePath(data_dir));
  if (!store.ok()) return store.status();
  return CreateToken(store->get(), name, role, now, expires);
}

}  // namespace ksweep::server::auth
