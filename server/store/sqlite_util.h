// Thin RAII over the SQLite C API: a connection and a prepared statement. Errors come back as Status naming the
// database file and the statement.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ksweep::server::sqlite {

class Db {
 public:
  static Result<std::unique_ptr<Db>> Open(const std::string& path, bool create);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  sqlite3* get() const { return db_; }
  const std::string& path() const { return path_; }
  Status Exec(std::string_view sql);
  Status Error(std::string_view what) const;  // the connection's last error, naming `what` and the file

 private:
  Db(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  const std::string path_;
};

class Stmt {
 public:
  Stmt() = default;
  Stmt(Stmt&& other) noexcept : db_(other.db_), stmt_(other.stmt_) { other.stmt_ = nullptr; }
  Stmt& operator=(Stmt&& other) noexcept;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt();

  static Result<Stmt> Prepare(Db& db, std::string_view sql);

  // Bind by 1-based index; the statement keeps copies (SQLITE_TRANSIENT).
  Stmt& Bind(int i, int64_t v);
  Stmt& Bind(int i, std::string_view v);
  Stmt& BindBlob(int i, std::string_view v);
  Stmt& BindNull(int i);

  // SQLITE_ROW -> true, SQLITE_DONE -> false, else an error Status.
  Result<bool> Step();
  Status Run();  // steps to the end, ignoring rows
  void Reset();  // clears bindings too

  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) const;
  std::string Blob(int col) const;
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

 private:
  Db* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace ksweep::server::sqlite
