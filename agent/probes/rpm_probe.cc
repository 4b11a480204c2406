// rpm: reads rpmdb.sqlite natively (SQLite, no librpm); older Berkeley DB / NDB databases through the host's rpm.
#include "agent/probes/rpm_probe.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>

#include "agent/probe_registry.h"

extern char** environ;  // NOLINT: POSIX declares it nowhere else

namespace ksweep::agent {
namespace {

constexpr std::array<std::string_view, 2> kDbDirs = {"/usr/lib/sysimage/rpm", "/var/lib/rpm"};

struct DbFile {
  std::string_view name;
  RpmDbFormat format;
};
// rpm 4.16+ prefers sqlite when it finds one; NDB and BDB are the older defaults.
constexpr std::array<DbFile, 3> kDbFiles = {DbFile{"rpmdb.sqlite", RpmDbFormat::kSqlite},
                                            DbFile{"Packages.db", RpmDbFormat::kNdb},
                                            DbFile{"Packages", RpmDbFormat::kBerkeley}};

// One bad header in a big database should not flood the report: the count goes in the status message.
constexpr size_t kMaxHeaderWarnings = 10;

// Tab-separated, one package a line; empty fields for absent tags. Names and versions cannot hold tabs.
constexpr std::string_view kQueryFormat =
    "%{NAME}\\t%|EPOCH?{%{EPOCH}}:{}|\\t%{VERSION}\\t%{RELEASE}\\t%|ARCH?{%{ARCH}}:{}|\\t"
    "%|VENDOR?{%{VENDOR}}:{}|\\n";
constexpr size_t kQueryFields = 6;

// The first read of each header blob; the parser then asks for ~1 KiB more at a time. Copying pages out of the file
// is most of the scan's cost (perf: pread), and re-reads come from SQLite's page cache, so small steps read just the
// pages holding the fields, often only the row's leaf page.
constexpr size_t kFirstBlobRead = 1024;

const char* FormatName(RpmDbFormat f) {
  switch (f) {
    case RpmDbFormat::kSqlite: return "sqlite";
    case RpmDbFormat::kNdb: return "ndb";
    case RpmDbFormat::kBerkeley: return "bdb";
  }
  return "unknown";
}

// The backend rpm must use; never left to rpm's detection, which creates an empty sqlite database when it
// recognises nothing (and the scanned root must not change).
const char* RpmBackend(RpmDbFormat f) {
  switch (f) {
    case RpmDbFormat::kSqlite: return "sqlite";
    case RpmDbFormat::kNdb: return "ndb";
    case RpmDbFormat::kBerkeley: return "bdb_ro";  // rpm < 4.16 ignores the name and uses its only backend, BDB
  }
  return "";
}

std::string DirOf(std::string_view path) {
  const size_t slash = path.rfind('/');
  return std::string(slash == 0 ? path.substr(0, 1) : path.substr(0, slash));
}

constexpr std::string_view kChildDbPath = "/proc/self/fd/3";

// One line of rpm's stderr for a person: the descriptor path rpm saw becomes the folder inside the root.
std::string RpmSaid(std::string_view text, std::string_view db_dir) {
  const size_t nl = text.find('\n');
  std::string line(nl == std::string_view::npos ? text : text.substr(0, nl));
  for (size_t at = line.find(kChildDbPath); at != std::string::npos; at = line.find(kChildDbPath, at)) {
    line.replace(at, kChildDbPath.size(), db_dir);
    at += db_dir.size();
  }
  return line;
}

// SQLite URI paths: everything outside the unreserved set is %-escaped, so '?', '#' and '%' in a root path stay
// part of the path.
std::string SqliteUri(const std::string& path, std::string_view params) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string uri = "file:";
  uri.reserve(path.size() + params.size() + 8);
  for (const char c : path) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '/' || u == '-' ||
        u == '_' || u == '.' || u == '~') {
      uri += c;
    } else {
      uri += '%';
      uri += kHex[u >> 4];
      uri += kHex[u & 0xf];
    }
  }
  uri += '?';
  uri += params;
  return uri;
}

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
struct BlobCloser {
  void operator()(sqlite3_blob* blob) const { sqlite3_blob_close(blob); }
};
using SqlitePtr = std::unique_ptr<sqlite3, SqliteCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;
using BlobPtr = std::unique_ptr<sqlite3_blob, BlobCloser>;

struct OpenedQuery {
  SqlitePtr db;
  StmtPtr stmt;
  int first_step = SQLITE_OK;  // the result of the first sqlite3_step
};

// Opens, prepares and takes the first step: a WAL database on a read-only medium fails only there.
Result<OpenedQuery> OpenPackages(const std::string& host_path, std::string_view params,
                                 std::chrono::milliseconds busy_timeout, int* error_code) {
  OpenedQuery q;
  sqlite3* raw = nullptr;
  const std::string uri = SqliteUri(host_path, params);
  int rc = sqlite3_open_v2(uri.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, nullptr);
  q.db.reset(raw);
  if (rc != SQLITE_OK) {
    *error_code = rc;
    return Status::IoError(raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
  }
  sqlite3_busy_timeout(q.db.get(), static_cast<int>(busy_timeout.count()));
  sqlite3_stmt* stmt = nullptr;
  rc = sqlite3_prepare_v2(q.db.get(), "SELECT hnum FROM Packages", -1, &stmt, nullptr);
  q.stmt.reset(stmt);
  if (rc != SQLITE_OK) {
    *error_code = rc;
    return Status::IoError(sqlite3_errmsg(q.db.get()));
  }
  q.first_step = sqlite3_step(q.stmt.get());
  if (q.first_step != SQLITE_ROW && q.first_step != SQLITE_DONE) {
    *error_code = q.first_step;
    return Status::IoError(sqlite3_errmsg(q.db.get()));
  }
  *error_code = SQLITE_OK;
  return q;
}

// Reads just enough of header `hnum` to parse it: whole blobs would cost every overflow page of the database.
Result<RpmHeaderView> ReadHeader(sqlite3* db, sqlite3_int64 hnum, BlobPtr* blob, std::string* buf) {
  int rc = SQLITE_OK;
  if (*blob) {
    rc = sqlite3_blob_reopen(blob->get(), hnum);
    if (rc != SQLITE_OK) blob->reset();  // an aborted handle is good for nothing but closing
  } else {
    sqlite3_blob* raw = nullptr;
    rc = sqlite3_blob_open(db, "main", "Packages", "blob", hnum, 0, &raw);
    blob->reset(raw);
    if (rc != SQLITE_OK) blob->reset();
  }
  if (rc != SQLITE_OK) return Status::IoError(std::string("cannot open the header blob: ") + sqlite3_errmsg(db));
  const auto total = static_cast<size_t>(sqlite3_blob_bytes(blob->get()));
  size_t want = std::min(total, kFirstBlobRead);
  while (true) {
    if (buf->size() < want) buf->resize(want);
    rc = sqlite3_blob_read(blob->get(), buf->data(), static_cast<int>(want), 0);
    if (rc != SQLITE_OK) return Status::IoError(std::string("cannot read the header blob: ") + sqlite3_errmsg(db));
    size_t need = 0;
    auto header = ParseRpmHeaderPrefix(std::string_view(buf->data(), want), total, &need);
    if (need <= want) return header;
    want = need;  // bounded by total: the parser never asks past the blob
  }
}

class RpmProbe final : public Probe {
 public:
  explicit RpmProbe(RpmProbeOptions options) : options_(std::move(options)) {}

  std::string_view name() const override { return "rpm"; }

  ProbeResult Run(const ProbeContext& ctx) override {
    ProbeResult result;
    auto db = FindRpmDb(ctx.root, &result.warnings);
    if (!db.ok()) {
      result.status = db.status();
      return result;
    }
    const bool native = db->format == RpmDbFormat::kSqlite && !options_.force_rpm_command;
    result.status = native ? ReadRpmSqlite(ctx.root, *db, options_, &result)
                           : ReadRpmCommand(*db, options_, ctx.command_timeout, &result);
    if (ctx.log) {
      ctx.log->debug("probe=rpm db={} format={} reader={} items={} packages={} status={}", db->inside,
                     FormatName(db->format), native ? "sqlite" : "rpm", result.items, result.observations.size(),
                     result.status.ToString());
    }
    return result;
  }

 private:
  RpmProbeOptions options_;
};

}  // namespace

Result<RpmDbLocation> FindRpmDb(const Root& root, std::vector<std::string>* warnings) {
  std::vector<RpmDbLocation> found;
  Status first_error;
  for (const DbFile& file : kDbFiles) {
    for (const std::string_view dir : kDbDirs) {
      std::string inside = std::string(dir) + "/" + std::string(file.name);
      auto info = root.Stat(inside);
      if (!info.ok()) {
        // Absent is the common case; anything else (a loop, no permission) means a database we could not look at.
        if (info.status().code() != Status::Code::kNotFound && first_error.ok()) first_error = info.status();
        continue;
      }
      if (!info->is_regular) continue;
      auto host = root.Resolve(inside);
      if (!host.ok()) {
        if (first_error.ok()) first_error = host.status();
        continue;
      }
      // /var/lib/rpm is often a link to /usr/lib/sysimage/rpm: one database seen twice.
      const bool seen = std::any_of(found.begin(), found.end(),
                                    [&host](const RpmDbLocation& l) { return l.host == *host; });
      if (!seen) found.push_back({std::move(inside), std::move(*host), file.format});
    }
  }
  if (found.empty()) {
    if (!first_error.ok()) return Status(first_error);
    return Status::Unavailable("no rpm database under " + root.path() +
                               " (no rpmdb.sqlite, Packages.db or Packages in /usr/lib/sysimage/rpm or /var/lib/rpm)");
  }
  for (size_t i = 1; i < found.size(); ++i) {
    warnings->push_back("rpm database " + found[i].inside + " also present, not read (" + found[0].inside +
                        " is the one rpm would use)");
  }
  return std::move(found[0]);
}

Observation RpmObservation(const RpmHeaderView& header, std::string_view db_path) {
  Observation o;
  o.kind = ObservationKind::kPackage;
  o.evidence_kind = v1::EVIDENCE_KIND_RPM_PACKAGE;
  o.package_state = PackageState::kInstalled;  // rpm keeps no record of removed packages
  o.name.assign(header.name);
  o.version = RpmEvr(header);
  o.vendor.assign(header.vendor);
  o.path.assign(db_path);
  o.detail.reserve(32 + o.name.size() + o.version.size() + header.arch.size());
  o.detail += "rpm package ";
  o.detail += o.name;
  o.detail += ' ';
  o.detail += o.version;
  if (!header.arch.empty()) {
    o.detail += '.';
    o.detail += header.arch;
  }
  return o;
}

Status ReadRpmSqlite(const Root& root, const RpmDbLocation& db, const RpmProbeOptions& options,
                     ProbeResult* result) {
  int code = SQLITE_OK;
  auto q = OpenPackages(db.host, "mode=ro", options.sqlite_busy_timeout, &code);
  const int primary = code & 0xff;
  if (!q.ok() && (primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY)) {
    // A WAL database needs its -shm file writable or creatable; on a read-only image neither is possible.
    // immutable=1 reads the main file alone, so changes still in the -wal file are not seen: say so.
    const Status ro_error = q.status();
    q = OpenPackages(db.host, "immutable=1", options.sqlite_busy_timeout, &code);
    if (!q.ok()) {
      return Status::IoError("rpm database " + db.inside + ": cannot read: " + ro_error.message() +
                             "; read as immutable: " + q.status().message());
    }
    std::string warning = "rpm database " + db.inside + " opened as immutable (read-only medium: " +
                          ro_error.message() + ")";
    auto wal = root.Stat(db.inside + "-wal");
    if (wal.ok() && wal->size > 0) {
      warning += "; " + std::to_string(wal->size) + " bytes in " + db.inside +
                 "-wal not seen (changes rpm has not yet checkpointed)";
    }
    result->warnings.push_back(std::move(warning));
  }
  if (!q.ok()) return Status::IoError("rpm database " + db.inside + ": cannot read Packages: " + q.status().message());

  sqlite3_stmt* stmt = q->stmt.get();
  BlobPtr blob;     // one handle moved from row to row
  std::string buf;  // one buffer, grown to the longest prefix any header needed
  int rc = q->first_step;
  int bad = 0;
  std::string first_bad;
  for (; rc == SQLITE_ROW; rc = sqlite3_step(stmt)) {
    if (result->items >= options.max_packages) {
      return Status::IoError("rpm database " + db.inside + ": more than " + std::to_string(options.max_packages) +
                             " packages, stopped there (limit)");
    }
    ++result->items;
    const sqlite3_int64 hnum = sqlite3_column_int64(stmt, 0);
    auto header = ReadHeader(q->db.get(), hnum, &blob, &buf);
    if (!header.ok()) {
      std::string what = db.inside + " hnum " + std::to_string(hnum) + ": " + header.status().message();
      if (bad == 0) first_bad = what;
      if (static_cast<size_t>(bad) < kMaxHeaderWarnings) result->warnings.push_back(std::move(what));
      ++bad;
      continue;
    }
    result->observations.push_back(RpmObservation(*header, db.inside));
  }
  if (rc != SQLITE_DONE) {
    return Status::IoError("rpm database " + db.inside + ": reading Packages stopped after " +
                           std::to_string(result->items) + " rows: " + sqlite3_errmsg(q->db.get()));
  }
  if (bad > 0) {
    // The unreadable ones could be the very packages we look for: the scan is incomplete.
    return Status::InvalidArgument("rpm database " + db.inside + ": " + std::to_string(bad) + " of " +
                                   std::to_string(result->items) + " package headers unreadable, first: " + first_bad);
  }
  return Status::Ok();
}

Status ReadRpmCommand(const RpmDbLocation& db, const RpmProbeOptions& options, std::chrono::milliseconds timeout,
                      ProbeResult* result) {
  const std::string what = "rpm database " + db.inside + " (" + FormatName(db.format) + ", read with '" +
                           options.rpm_binary + "')";
  // The folder goes to rpm as an open descriptor, never as a path: rpm macro-expands --dbpath (and --root), and
  // %(...) in a macro runs a shell command, so a scanned image with a link to "/%(cmd)" would run cmd here.
  // Root::Resolve already took every link in the path inside the root.
  const std::string dir = DirOf(db.host);
  const int dir_fd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return Status::IoError(what + ": cannot open " + dir + ": " + std::strerror(errno));
  const std::vector<std::string> argv = {options.rpm_binary,
                                         "--define",
                                         std::string("_db_backend ") + RpmBackend(db.format),
                                         "--dbpath",
                                         std::string(kChildDbPath),
                                         "-qa",
                                         "--queryformat",
                                         std::string(kQueryFormat)};
  CommandOptions command;
  command.timeout = timeout;
  command.max_stdout = options.max_rpm_output_bytes;
  command.child_fd3 = dir_fd;
  auto run = RunCommand(argv, command);
  ::close(dir_fd);
  if (!run.ok()) {
    const Status& st = run.status();
    if (st.code() == Status::Code::kNotFound) {
      return Status::NotFound(what + ": no rpm binary on this host to read it: " + st.message());
    }
    if (st.code() == Status::Code::kTimeout) return Status::Timeout(what + ": " + st.message());
    return Status::IoError(what + ": " + st.message());
  }
  if (run->signal != 0 || run->exit_code != 0) {
    return Status::IoError(what + ": rpm " +
                           (run->signal != 0 ? "killed by signal " + std::to_string(run->signal)
                                             : "exited with status " + std::to_string(run->exit_code)) +
                           (run->err.empty() ? "" : ": " + RpmSaid(run->err, DirOf(db.inside))));
  }

  std::string_view out = run->out;
  int malformed = 0;
  while (!out.empty()) {
    const size_t nl = out.find('\n');
    const std::string_view line = out.substr(0, nl);
    out = nl == std::string_view::npos ? std::string_view() : out.substr(nl + 1);
    if (line.empty()) continue;
    if (result->items >= options.max_packages) {
      return Status::IoError(what + ": more than " + std::to_string(options.max_packages) +
                             " packages, stopped there (limit)");
    }
    ++result->items;
    std::array<std::string_view, kQueryFields> f;
    size_t n = 0;
    bool more = true;  // still a tab to the right: after the last field, one too many
    for (std::string_view rest = line; more && n < kQueryFields;) {
      const size_t tab = rest.find('\t');
      f[n++] = rest.substr(0, tab);
      more = tab != std::string_view::npos;
      if (more) rest = rest.substr(tab + 1);
    }
    RpmHeaderView h;
    bool ok = !more && n == kQueryFields && !f[0].empty() && !f[2].empty() && !f[3].empty();
    auto number = [&ok](std::string_view s, std::optional<uint32_t>* v) {
      if (s.empty()) return;
      uint32_t x = 0;
      const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
      if (ec != std::errc() || p != s.data() + s.size()) {
        ok = false;
        return;
      }
      *v = x;
    };
    if (ok) {
      h.name = f[0];
      number(f[1], &h.epoch);
      h.version = f[2];
      h.release = f[3];
      h.arch = f[4];
      h.vendor = f[5];
    }
    if (!ok) {
      if (malformed++ < static_cast<int>(kMaxHeaderWarnings)) {
        result->warnings.push_back(what + ": unexpected output line '" + std::string(line.substr(0, 200)) + "'");
      }
      continue;
    }
    result->observations.push_back(RpmObservation(h, db.inside));
  }

  // rpm reports unreadable records on stderr and still exits 0; and when it cannot read the format at all
  // (a host rpm built without NDB) it falls back to an empty "dummy" database, again with status 0.
  std::string_view err = run->err;
  std::string first_error;
  while (!err.empty() && first_error.empty()) {
    const size_t nl = err.find('\n');
    const std::string_view line = err.substr(0, nl);
    err = nl == std::string_view::npos ? std::string_view() : err.substr(nl + 1);
    if (line.rfind("error:", 0) == 0 || line.find("dummy database") != std::string_view::npos) {
      first_error = RpmSaid(line, DirOf(db.inside));
    }
  }
  if (!first_error.empty()) return Status::IoError(what + ": rpm reported: " + first_error);
  if (result->items == 0 && !run->err.empty()) {
    return Status::IoError(what + ": rpm listed no packages and said: " + RpmSaid(run->err, DirOf(db.inside)));
  }
  if (malformed > 0) {
    return Status::IoError(what + ": " + std::to_string(malformed) + " of " + std::to_string(result->items) +
                           " lines of rpm output unreadable");
  }
  return Status::Ok();
}

Result<CommandOutput> RunCommand(const std::vector<std::string>& argv, const CommandOptions& options) {
  if (argv.empty()) return Status::InvalidArgument("RunCommand: empty argv");
  const std::string& prog = argv[0];

  int out_pipe[2] = {-1, -1};
  int err_pipe[2] = {-1, -1};
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return Status::IoError("pipe for " + prog + ": " + std::strerror(errno));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    const int e = errno;
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return Status::IoError("pipe for " + prog + ": " + std::strerror(e));
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  int first_closed = 3;
  int fd3_copy = -1;
  if (options.child_fd3 >= 0) {
    // dup2(3, 3) would keep O_CLOEXEC: hand over a copy numbered above 3.
    fd3_copy = ::fcntl(options.child_fd3, F_DUPFD_CLOEXEC, 10);
    if (fd3_copy < 0) {
      const int e = errno;
      for (const int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
      posix_spawn_file_actions_destroy(&actions);
      return Status::IoError("descriptor for " + prog + ": " + std::strerror(e));
    }
    posix_spawn_file_actions_adddup2(&actions, fd3_copy, 3);
    first_closed = 4;
  }
  // Sockets and databases the agent holds without O_CLOEXEC stay out of the child.
  posix_spawn_file_actions_addclosefrom_np(&actions, first_closed);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigset_t all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);  // its own group: a timeout kills whatever it started too
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  // Messages in English whatever the agent's locale, so callers can read rpm's "error:" lines.
  std::vector<std::string> env_store;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view kv(*e);
    if (kv.rfind("LC_", 0) == 0 || kv.rfind("LANG=", 0) == 0 || kv.rfind("LANGUAGE=", 0) == 0) continue;
    env_store.emplace_back(kv);
  }
  env_store.emplace_back("LC_ALL=C");
  std::vector<char*> envp;
  envp.reserve(env_store.size() + 1);
  for (auto& s : env_store) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args_store(argv.begin(), argv.end());
  std::vector<char*> args;
  args.reserve(args_store.size() + 1);
  for (auto& s : args_store) args.push_back(s.data());
  args.push_back(nullptr);

  pid_t pid = -1;
  const int spawn_rc = ::posix_spawnp(&pid, prog.c_str(), &actions, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (fd3_copy >= 0) ::close(fd3_copy);
  if (spawn_rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    const std::string msg = "cannot run '" + prog + "': " + std::strerror(spawn_rc);
    if (spawn_rc == ENOENT) return Status::NotFound(msg);
    if (spawn_rc == EACCES || spawn_rc == EPERM) return Status::PermissionDenied(msg);
    return Status::IoError(msg);
  }

  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + options.timeout;
  CommandOutput output;
  Status failure;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0 && failure.ok()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      failure = Status::Timeout("'" + prog + "' did not finish within " + std::to_string(options.timeout.count()) +
                                " ms; killed");
      break;
    }
    const int ready = ::poll(fds, 2, static_cast<int>(std::min<long long>(left, 1000)));
    if (ready < 0) {
      if (errno == EINTR) continue;
      failure = Status::IoError("poll on '" + prog + "' output: " + std::strerror(errno));
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;  // poll ignores negative descriptors
        --open_fds;
        continue;
      }
      const auto got = static_cast<size_t>(n);
      if (i == 0) {
        if (output.out.size() + got > options.max_stdout) {
          failure = Status::IoError("'" + prog + "' wrote more than " + std::to_string(options.max_stdout) +
                                    " bytes of output (limit); killed");
          break;
        }
        output.out.append(buf, got);
      } else if (output.err.size() < options.max_stderr) {
        output.err.append(buf, std::min(got, options.max_stderr - output.err.size()));
      }
    }
  }
  for (const pollfd& p : fds) {
    if (p.fd >= 0) ::close(p.fd);
  }

  // Both pipes closed: the child is exiting (or handed them to nobody). Reap it within what is left of the deadline.
  int wstatus = 0;
  while (failure.ok()) {
    const pid_t w = ::waitpid(pid, &wstatus, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) {
      failure = Status::IoError("waitpid for '" + prog + "': " + std::strerror(errno));
      break;
    }
    if (Clock::now() >= deadline) {
      failure = Status::Timeout("'" + prog + "' did not exit within " + std::to_string(options.timeout.count()) +
                                " ms; killed");
      break;
    }
    ::poll(nullptr, 0, 5);
  }
  if (!failure.ok()) {
    ::kill(-pid, SIGKILL);
    while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    return failure;
  }
  if (WIFEXITED(wstatus)) output.exit_code = WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) output.signal = WTERMSIG(wstatus);
  return output;
}

ProbePtr MakeRpmProbeWith(RpmProbeOptions options) { return std::make_unique<RpmProbe>(std::move(options)); }

ProbePtr MakeRpmProbe() { return MakeRpmProbeWith(RpmProbeOptions{}); }

}  // namespace ksweep::agent
