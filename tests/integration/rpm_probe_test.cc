// The rpm probe on roots built by the real rpmbuild/rpm (tests/fixtures/rpm/make_rpm_fixture.sh): rpmdb.sqlite in
// both layouts, a Berkeley DB Packages read through the host's rpm, and broken or missing databases.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "agent/probe_registry.h"
#include "agent/probes/rpm_probe.h"
#include "agent/root.h"
#include "common/logging.h"
#include "tests/fixtures/rpm/rpm_fixture.h"

namespace ksweep::agent {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

fs::path MakeTempDir(const std::string& tag) {
  std::string tmpl = (fs::temp_directory_path() / ("ksweep-rpm-" + tag + "-XXXXXX")).string();
  if (mkdtemp(tmpl.data()) == nullptr) return {};
  return tmpl;
}

void WriteFile(const fs::path& path, const std::string& data) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << data;
}

// Every file name below `dir`: the probe must leave a scanned root as it found it.
std::set<std::string> Listing(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(dir)) names.insert(e.path().string());
  return names;
}

// Deterministic bytes that are not a database of any kind.
std::string Garbage(size_t n) {
  std::string s(n, '\0');
  uint32_t x = 2463534242u;
  for (auto& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x & 0xff);
  }
  return s;
}

void ExecSql(const fs::path& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  const std::string msg = err != nullptr ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << msg;
}

class RpmProbeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string error;
    fixture_ = new fs::path(test_fixtures::RpmFixtureDir(&error));
    ASSERT_FALSE(fixture_->empty()) << error;
  }

  static void TearDownTestSuite() {
    delete fixture_;
    fixture_ = nullptr;
  }

  void SetUp() override { scratch_ = MakeTempDir("case"); }
  void TearDown() override {
    if (!scratch_.empty()) fs::remove_all(scratch_);
  }

  static fs::path Fixture(const std::string& sub) { return *fixture_ / sub; }

  // A private copy of a fixture root this test may change.
  fs::path CopyRoot(const std::string& sub) {
    const fs::path dst = scratch_ / sub;
    fs::copy(Fixture(sub), dst, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    return dst;
  }

  static ProbeResult RunProbe(const fs::path& root_path, RpmProbeOptions options = {},
                              milliseconds timeout = milliseconds(30000)) {
    const Root root(root_path.string());
    const v1::RuleSet rules;
    ProbeContext ctx{root, rules, NullLogger(), timeout};
    return MakeRpmProbeWith(std::move(options))->Run(ctx);
  }

  // Scans `root`, whose database rpm cannot read: a failure, never "no rpm database here" (kUnavailable), and the root
  // left as it was. The failure's message, for the test's own checks.
  static std::string FailureReadingUnreadableDb(const fs::path& root) {
    const auto before = Listing(root);
    const ProbeResult r = RunProbe(root);
    EXPECT_FALSE(r.status.ok());
    EXPECT_NE(r.status.code(), Status::Code::kUnavailable);
    EXPECT_EQ(Listing(root), before);
    return r.status.message();
  }

  // What the host's rpm itself says is in a database directory: name -> (EVR, vendor).
  static std::map<std::string, std::pair<std::string, std::string>> RpmSays(const fs::path& dbdir,
                                                                          const std::string& backend) {
    auto run = RunCommand({"rpm", "--define", "_db_backend " + backend, "--dbpath", dbdir.string(), "-qa",
                           "--queryformat", "%{NAME}|%{EVR}|%{VENDOR}\\n"},
                          CommandOptions{milliseconds(30000)});
    std::map<std::string, std::pair<std::string, std::string>> out;
    if (!run.ok() || run->exit_code != 0) return out;
    std::istringstream lines(run->out);
    for (std::string line; std::getline(lines, line);) {
      const size_t a = line.find('|');
      const size_t b = line.find('|', a + 1);
      std::string vendor = line.substr(b + 1);
      if (vendor == "(none)") vendor.clear();
      out[line.substr(0, a)] = {line.substr(a + 1, b - a - 1), vendor};
    }
    return out;
  }

  static const Observation* Find(const ProbeResult& r, const std::string& name) {
    for (const auto& o : r.observations) {
      if (o.name == name) return &o;
    }
    return nullptr;
  }

  using Row = std::tuple<std::string, std::string, std::string, std::string>;
  static std::vector<Row> Rows(const ProbeResult& r) {
    std::vector<Row> rows;
    for (const auto& o : r.observations) rows.emplace_back(o.name, o.version, o.vendor, o.detail);
    std::sort(rows.begin(), rows.end());
    return rows;
  }

  fs::path scratch_;

 private:
  static fs::path* fixture_;
};

fs::path* RpmProbeTest::fixture_ = nullptr;

TEST_F(RpmProbeTest, ReadsRpmdbSqliteNatively) {
  const ProbeResult r = RunProbe(Fixture("sqlite-root"));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.items, 3);
  ASSERT_EQ(r.observations.size(), 3u);
  EXPECT_TRUE(r.warnings.empty());

  const Observation* kesl = Find(r, "kesl");
  ASSERT_NE(kesl, nullptr);
  EXPECT_EQ(kesl->kind, ObservationKind::kPackage);
  EXPECT_EQ(kesl->evidence_kind, v1::EVIDENCE_KIND_RPM_PACKAGE);
  EXPECT_EQ(kesl->version, "12.1.0-1234");
  EXPECT_EQ(kesl->vendor, "AO Kaspersky Lab");
  EXPECT_EQ(kesl->package_state, PackageState::kInstalled);
  EXPECT_EQ(kesl->path, "/var/lib/rpm/rpmdb.sqlite");
  EXPECT_EQ(kesl->detail, "rpm package kesl 12.1.0-1234.x86_64");

  const Observation* agent = Find(r, "klnagent64");
  ASSERT_NE(agent, nullptr);
  EXPECT_EQ(agent->version, "15.1.0-20748");
  // Its long description puts VENDOR and ARCH past the first piece of the blob the reader fetches.
  EXPECT_EQ(agent->vendor, "AO Kaspersky Lab");
  EXPECT_EQ(agent->detail, "rpm package klnagent64 15.1.0-20748.x86_64");

  const Observation* certs = Find(r, "ca-certificates");
  ASSERT_NE(certs, nullptr);
  EXPECT_EQ(certs->version, "1:2023.2.60-1.el9");
  EXPECT_EQ(certs->vendor, "");

  // The host's rpm, reading the same file, is the oracle.
  const auto truth = RpmSays(Fixture("sqlite-root/var/lib/rpm"), "sqlite");
  ASSERT_EQ(truth.size(), 3u);
  for (const auto& [name, evr_vendor] : truth) {
    const Observation* o = Find(r, name);
    ASSERT_NE(o, nullptr) << name;
    EXPECT_EQ(o->version, evr_vendor.first) << name;
    EXPECT_EQ(o->vendor, evr_vendor.second) << name;
  }
}

TEST_F(RpmProbeTest, FindsSysimageDatabaseAndResolvesAbsoluteLinkInsideRoot) {
  // /var/lib/rpm -> /usr/lib/sysimage/rpm (absolute): the same database, named once.
  ASSERT_TRUE(fs::is_symlink(Fixture("sysimage-root/var/lib/rpm")));
  const ProbeResult r = RunProbe(Fixture("sysimage-root"));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_TRUE(r.warnings.empty()) << r.warnings.front();
  ASSERT_EQ(r.observations.size(), 3u);
  EXPECT_EQ(Find(r, "kesl")->path, "/usr/lib/sysimage/rpm/rpmdb.sqlite");

  // Only the link: it must be taken inside the root, never as the host's own /usr/lib/sysimage/rpm.
  const fs::path root = scratch_ / "link-only";
  fs::create_directories(root / "var/lib");
  fs::create_directories(root / "srv/rpmdb");
  fs::copy_file(Fixture("sqlite-root/var/lib/rpm/rpmdb.sqlite"), root / "srv/rpmdb/rpmdb.sqlite");
  fs::create_symlink("/srv/rpmdb", root / "var/lib/rpm");
  const ProbeResult linked = RunProbe(root);
  ASSERT_TRUE(linked.status.ok()) << linked.status.ToString();
  EXPECT_EQ(linked.observations.size(), 3u);
  EXPECT_EQ(Find(linked, "kesl")->path, "/var/lib/rpm/rpmdb.sqlite");
}

TEST_F(RpmProbeTest, ReadsBerkeleyDbThroughHostRpm) {
  const fs::path root = CopyRoot("bdb-root");
  const auto before = Listing(root);
  const ProbeResult r = RunProbe(root);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.items, 3);
  ASSERT_EQ(r.observations.size(), 3u);
  EXPECT_EQ(Find(r, "kesl")->path, "/var/lib/rpm/Packages");
  // Same headers as the sqlite fixture: the two readers must agree field for field.
  EXPECT_EQ(Rows(r), Rows(RunProbe(Fixture("sqlite-root"))));
  EXPECT_EQ(Listing(root), before);
}

TEST_F(RpmProbeTest, RpmCommandReaderMatchesNativeReaderOnSqlite) {
  RpmProbeOptions options;
  options.force_rpm_command = true;
  const ProbeResult via_rpm = RunProbe(Fixture("sqlite-root"), options);
  ASSERT_TRUE(via_rpm.status.ok()) << via_rpm.status.ToString();
  EXPECT_EQ(via_rpm.items, 3);
  EXPECT_EQ(Rows(via_rpm), Rows(RunProbe(Fixture("sqlite-root"))));
}

// SQLite URIs and rpm macros both give meaning to characters a mount point may hold.
TEST_F(RpmProbeTest, RootPathWithUriAndMacroCharacters) {
  const fs::path root = scratch_ / "odd ?#%{_arch}& 100%";  // unescaped, rpm would read "odd ?#x86_64& 100%"
  fs::copy(Fixture("bdb-root"), root, fs::copy_options::recursive);
  fs::copy_file(Fixture("sqlite-root/var/lib/rpm/rpmdb.sqlite"), root / "var/lib/rpm/rpmdb.sqlite");
  const ProbeResult native = RunProbe(root);
  ASSERT_TRUE(native.status.ok()) << native.status.ToString();
  EXPECT_EQ(native.observations.size(), 3u);

  fs::remove(root / "var/lib/rpm/rpmdb.sqlite");
  const ProbeResult via_rpm = RunProbe(root);
  ASSERT_TRUE(via_rpm.status.ok()) << via_rpm.status.ToString();
  EXPECT_EQ(Find(via_rpm, "kesl")->path, "/var/lib/rpm/Packages");
  EXPECT_EQ(Rows(via_rpm), Rows(native));
}

// rpm expands macros in --dbpath, and %(...) runs a shell: a path from a scanned image must never reach it.
TEST_F(RpmProbeTest, MacroInLinkTargetIsNotExecuted) {
  const std::string marker = "ksweep-rpm-macro-marker";
  const fs::path root = scratch_ / "evil";
  const fs::path db_dir = root / ("db/%(touch " + marker + ")");
  fs::create_directories(db_dir);
  fs::copy_file(Fixture("bdb-root/var/lib/rpm/Packages"), db_dir / "Packages");
  fs::create_directories(root / "var/lib");
  fs::create_symlink("/db/%(touch " + marker + ")", root / "var/lib/rpm");
  ASSERT_FALSE(fs::exists(marker));
  const auto before = Listing(root);

  const ProbeResult r = RunProbe(root);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.observations.size(), 3u);
  EXPECT_FALSE(fs::exists(marker)) << "rpm ran the %(...) macro from the image";
  EXPECT_EQ(Listing(root), before);
  fs::remove(marker);
}

TEST_F(RpmProbeTest, NoDatabaseIsUnavailable) {
  fs::create_directories(scratch_ / "empty/var/lib/rpm");  // the folder alone, as Debian's rpm package leaves it
  const ProbeResult r = RunProbe(scratch_ / "empty");
  EXPECT_EQ(r.status.code(), Status::Code::kUnavailable) << r.status.ToString();
  EXPECT_NE(r.status.message().find("no rpm database under " + (scratch_ / "empty").string()), std::string::npos)
      << r.status.message();
  EXPECT_TRUE(r.observations.empty());
}

TEST_F(RpmProbeTest, GarbageSqliteFileFailsWithClearMessage) {
  const fs::path root = scratch_ / "garbage";
  WriteFile(root / "var/lib/rpm/rpmdb.sqlite", Garbage(8192));
  const ProbeResult r = RunProbe(root);
  ASSERT_FALSE(r.status.ok());
  EXPECT_NE(r.status.code(), Status::Code::kUnavailable);
  EXPECT_NE(r.status.message().find("/var/lib/rpm/rpmdb.sqlite"), std::string::npos) << r.status.message();
  EXPECT_NE(r.status.message().find("not a database"), std::string::npos) << r.status.message();
}

TEST_F(RpmProbeTest, SqliteWithoutPackagesTableFails) {
  const fs::path root = scratch_ / "other-db";
  fs::create_directories(root / "var/lib/rpm");
  ExecSql(root / "var/lib/rpm/rpmdb.sqlite", "CREATE TABLE Name (key TEXT, hnum INTEGER)");
  const ProbeResult r = RunProbe(root);
  ASSERT_FALSE(r.status.ok());
  EXPECT_NE(r.status.message().find("no such table: Packages"), std::string::npos) << r.status.message();
}

TEST_F(RpmProbeTest, BadHeaderRowIsReportedAndOthersKept) {
  const fs::path root = CopyRoot("sqlite-root");
  ExecSql(root / "var/lib/rpm/rpmdb.sqlite",
          "UPDATE Packages SET blob = x'0000000100000004' WHERE hnum = (SELECT hnum FROM Name WHERE key = 'kesl')");
  const ProbeResult r = RunProbe(root);
  EXPECT_EQ(r.status.code(), Status::Code::kInvalidArgument) << r.status.ToString();
  EXPECT_NE(r.status.message().find("1 of 3 package headers unreadable"), std::string::npos) << r.status.message();
  EXPECT_EQ(r.items, 3);
  EXPECT_EQ(r.observations.size(), 2u);
  EXPECT_EQ(Find(r, "kesl"), nullptr);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("/var/lib/rpm/rpmdb.sqlite hnum "), std::string::npos) << r.warnings[0];
  EXPECT_NE(r.warnings[0].find("rpm header: "), std::string::npos) << r.warnings[0];
}

TEST_F(RpmProbeTest, SqliteIsPreferredAndLeftoverLegacyDatabaseNamed) {
  const fs::path root = CopyRoot("sqlite-root");
  fs::copy_file(Fixture("bdb-root/var/lib/rpm/Packages"), root / "var/lib/rpm/Packages");
  const ProbeResult r = RunProbe(root);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(Find(r, "kesl")->path, "/var/lib/rpm/rpmdb.sqlite");
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("/var/lib/rpm/Packages also present"), std::string::npos) << r.warnings[0];
}

TEST_F(RpmProbeTest, PackageLimitStopsBothReaders) {
  RpmProbeOptions options;
  options.max_packages = 2;
  const ProbeResult native = RunProbe(Fixture("sqlite-root"), options);
  EXPECT_FALSE(native.status.ok());
  EXPECT_NE(native.status.message().find("more than 2 packages"), std::string::npos) << native.status.message();
  EXPECT_EQ(native.observations.size(), 2u);

  const ProbeResult bdb = RunProbe(Fixture("bdb-root"), options);
  EXPECT_FALSE(bdb.status.ok());
  EXPECT_NE(bdb.status.message().find("more than 2 packages"), std::string::npos) << bdb.status.message();
  EXPECT_EQ(bdb.observations.size(), 2u);
}

TEST_F(RpmProbeTest, RpmOutputLimitIsEnforced) {
  RpmProbeOptions options;
  options.max_rpm_output_bytes = 64;
  const ProbeResult r = RunProbe(Fixture("bdb-root"), options);
  EXPECT_EQ(r.status.code(), Status::Code::kIoError) << r.status.ToString();
  EXPECT_NE(r.status.message().find("more than 64 bytes"), std::string::npos) << r.status.message();
}

TEST_F(RpmProbeTest, MissingRpmBinaryIsAFailureNotAbsence) {
  for (const std::string binary : {"/nonexistent/rpm", "ksweep-no-such-rpm"}) {
    RpmProbeOptions options;
    options.rpm_binary = binary;
    const ProbeResult r = RunProbe(Fixture("bdb-root"), options);
    EXPECT_EQ(r.status.code(), Status::Code::kNotFound) << r.status.ToString();
    EXPECT_NE(r.status.message().find("no rpm binary on this host"), std::string::npos) << r.status.message();
    EXPECT_NE(r.status.message().find("/var/lib/rpm/Packages"), std::string::npos) << r.status.message();
  }
}

TEST_F(RpmProbeTest, UnreadableBerkeleyDbFailsAndRootIsUntouched) {
  const fs::path root = scratch_ / "bad-bdb";
  WriteFile(root / "var/lib/rpm/Packages", Garbage(16384));
  const std::string message = FailureReadingUnreadableDb(root);
  EXPECT_NE(message.find("/var/lib/rpm/Packages (bdb"), std::string::npos) << message;
  // rpm's own words, with the folder named as inside the root rather than by the descriptor rpm was given.
  EXPECT_NE(message.find("/var/lib/rpm/Packages: not a berkeley db"), std::string::npos) << message;
  EXPECT_EQ(message.find("/proc/self/fd"), std::string::npos) << message;
}

// Debian's rpm 4.18 is built without NDB, and silently uses an empty "dummy" database for it; a host rpm with NDB
// rejects the garbage instead. Either way: a failure, and no rpmdb.sqlite created next to it (which rpm does when
// left to detect the backend itself).
TEST_F(RpmProbeTest, NdbDatabaseTheHostCannotReadFails) {
  const fs::path root = scratch_ / "ndb";
  WriteFile(root / "var/lib/rpm/Packages.db", Garbage(4096));
  const std::string message = FailureReadingUnreadableDb(root);
  EXPECT_NE(message.find("/var/lib/rpm/Packages.db (ndb"), std::string::npos) << message;
}

TEST_F(RpmProbeTest, LockedDatabaseFailsAfterBusyTimeout) {
  const fs::path root = CopyRoot("sqlite-root");
  sqlite3* writer = nullptr;
  ASSERT_EQ(sqlite3_open((root / "var/lib/rpm/rpmdb.sqlite").c_str(), &writer), SQLITE_OK);
  // In WAL mode only an exclusive-mode writer keeps readers out.
  ASSERT_EQ(sqlite3_exec(writer, "PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE;", nullptr, nullptr, nullptr),
            SQLITE_OK);
  RpmProbeOptions options;
  options.sqlite_busy_timeout = milliseconds(50);
  const ProbeResult r = RunProbe(root, options);
  sqlite3_exec(writer, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(writer);
  ASSERT_FALSE(r.status.ok());
  EXPECT_NE(r.status.message().find("locked"), std::string::npos) << r.status.message();
}

// A WAL database on a read-only mount: mode=ro cannot create the -shm file, immutable=1 can read. Needs a private
// mount namespace (root or CAP_SYS_ADMIN); the probe runs in a child so the mount dies with it.
TEST_F(RpmProbeTest, ReadOnlyMediumFallsBackToImmutable) {
  const fs::path src = scratch_ / "ro-src";
  const fs::path mnt = scratch_ / "ro-mnt";
  fs::create_directories(src / "var/lib/rpm");
  fs::create_directories(mnt);
  fs::copy_file(Fixture("sqlite-root/var/lib/rpm/rpmdb.sqlite"), src / "var/lib/rpm/rpmdb.sqlite");

  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount(src.c_str(), mnt.c_str(), nullptr, MS_BIND, nullptr) != 0 ||
        mount(nullptr, mnt.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0) {
      _exit(77);
    }
    const ProbeResult r = RunProbe(mnt);
    std::string report = r.status.ok() ? std::string("ok") : r.status.ToString();
    report += "\n" + std::to_string(r.observations.size()) + "\n";
    for (const auto& w : r.warnings) report += w + "\n";
    if (::write(fds[1], report.data(), report.size()) < 0) _exit(2);
    _exit(0);
  }
  ::close(fds[1]);
  std::string report;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) report.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int wstatus = 0;
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFEXITED(wstatus));
  if (WEXITSTATUS(wstatus) == 77) GTEST_SKIP() << "no private read-only bind mount here (needs CAP_SYS_ADMIN)";
  ASSERT_EQ(WEXITSTATUS(wstatus), 0);
  std::istringstream lines(report);
  std::string status, count, warning;
  std::getline(lines, status);
  std::getline(lines, count);
  std::getline(lines, warning);
  EXPECT_EQ(status, "ok") << report;
  EXPECT_EQ(count, "3") << report;
  EXPECT_NE(warning.find("/var/lib/rpm/rpmdb.sqlite opened as immutable"), std::string::npos) << report;
  EXPECT_FALSE(fs::exists(src / "var/lib/rpm/rpmdb.sqlite-shm"));
}

// --- the child-process runner ---

TEST(RunCommandTest, CapturesOutputAndExitCode) {
  auto r = RunCommand({"sh", "-c", "echo out; echo err >&2; exit 3"}, CommandOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->signal, 0);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
}

TEST(RunCommandTest, CLocaleAndNoStdin) {
  auto r = RunCommand({"sh", "-c", "echo \"$LC_ALL\"; cat"}, CommandOptions{});  // cat ends at once on /dev/null
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->out, "C\n");
}

TEST(RunCommandTest, MissingProgramIsNotFound) {
  auto r = RunCommand({"/nonexistent/ksweep-tool"}, CommandOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/ksweep-tool"), std::string::npos);
}

TEST(RunCommandTest, StdoutLimitKills) {
  CommandOptions options;
  options.max_stdout = 1000;
  auto r = RunCommand({"cat", "/dev/zero"}, options);  // never ends by itself
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kIoError);
  EXPECT_NE(r.status().message().find("more than 1000 bytes"), std::string::npos) << r.status().message();
}

TEST(RunCommandTest, StderrIsTruncatedNotFatal) {
  CommandOptions options;
  options.max_stderr = 100;
  auto r = RunCommand({"sh", "-c", "head -c 100000 /dev/zero >&2"}, options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->err.size(), 100u);
}

TEST(RunCommandTest, OnlyStdioAndTheGivenDescriptorReachTheChild) {
  const fs::path dir = MakeTempDir("fd");
  WriteFile(dir / "hello", "from fd 3\n");
  const int leaky = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);  // no O_CLOEXEC on purpose
  const int dir_fd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(leaky, 0);
  ASSERT_GE(dir_fd, 0);
  CommandOptions options;
  options.child_fd3 = dir_fd;
  // The shell's own descriptors: exec'd programs would see the same.
  // The shell's own descriptors (no pipeline: its pipes would show), as any program it ran would have them.
  auto r = RunCommand({"sh", "-c", "cat /proc/self/fd/3/hello; ls /proc/$$/fd"}, options);
  ::close(leaky);
  ::close(dir_fd);
  fs::remove_all(dir);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::istringstream lines(r->out);
  std::string first;
  std::getline(lines, first);
  EXPECT_EQ(first, "from fd 3") << r->err;
  std::set<int> fds;
  for (int fd; lines >> fd;) fds.insert(fd);
  EXPECT_EQ(fds, (std::set<int>{0, 1, 2, 3})) << r->out;
}

bool Gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  const size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';  // a zombie is dead
}

TEST(RunCommandTest, TimeoutKillsTheWholeProcessGroup) {
  const fs::path dir = MakeTempDir("timeout");
  const fs::path pids = dir / "pids";
  CommandOptions options;
  options.timeout = milliseconds(300);
  // The shell starts a grandchild and waits: killing only the shell would leave the sleep behind.
  auto r = RunCommand({"sh", "-c", "sleep 60 & echo $! > '" + pids.string() + "'; wait"}, options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kTimeout);
  EXPECT_NE(r.status().message().find("did not finish within 300 ms"), std::string::npos) << r.status().message();

  std::ifstream in(pids);
  pid_t grandchild = 0;
  in >> grandchild;
  ASSERT_GT(grandchild, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!Gone(grandchild) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));  // polling a condition, with a deadline
  }
  EXPECT_TRUE(Gone(grandchild)) << "grandchild " << grandchild << " survived the timeout";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ksweep::agent
