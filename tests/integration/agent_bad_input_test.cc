// `ksweep-agent scan` against bad input: garbage, truncated and huge dpkg status files, unreadable folders, symlink
// loops, a FIFO where a file should be, a missing root, and rules files with each kind of error. The agent must
// answer with a report or a clear error (exit 2 naming the file, the field and the reason): never a crash, never a
// hang. Every child runs with a deadline.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "tests/integration/test_util.h"

namespace ksweep::test {
namespace {

constexpr char kKeslStanza[] =
    "Package: kesl\n"
    "Status: install ok installed\n"
    "Priority: optional\n"
    "Section: misc\n"
    "Maintainer: AO Kaspersky Lab <support@kaspersky.com>\n"
    "Architecture: amd64\n"
    "Version: 12.1.0.1234\n"
    "Description: Kaspersky Endpoint Security for Linux\n"
    " fixture stanza\n";

class AgentBadInputTest : public ::testing::Test {
 protected:
  std::string Status() const { return root_.Sub("var/lib/dpkg/status"); }
  void WriteStatus(std::string_view content) { WriteFile(Status(), content); }

  // A scan that must finish (exit 0) and print a parseable report.
  AgentScan MustScan(const std::vector<std::string>& extra = {},
                     std::chrono::milliseconds deadline = std::chrono::seconds(60)) {
    AgentScan scan = ScanRoot(root_.path(), extra, RunOptions::WithDeadline(deadline));
    EXPECT_TRUE(scan.process.Exited(0)) << scan.process.Describe();
    EXPECT_TRUE(scan.parsed) << scan.parse_error;
    return scan;
  }

  TempDir root_{"bad-root"};
};

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(byte(gen));
  return s;
}

// Lines that look almost like a status file: colons, continuation lines, stray blank lines, no valid Status.
std::string NearlyStatus(size_t lines, uint32_t seed) {
  std::mt19937 gen(seed);
  const char* pieces[] = {"Package:", "Status: install", ":", " continuation", "", "Version", "Status: a b c d",
                          "Package: \x01\x02", "\t", "Status: hold ok", "Package:kesl-but-not"};
  std::uniform_int_distribution<size_t> pick(0, std::size(pieces) - 1);
  std::string s;
  for (size_t i = 0; i < lines; ++i) {
    s += pieces[pick(gen)];
    s += '\n';
  }
  return s;
}

TEST_F(AgentBadInputTest, GarbageStatusFilesAreSurvived) {
  const struct {
    const char* name;
    std::string content;
  } cases[] = {
      {"random bytes", RandomBytes(1 << 20, 20241128)},
      {"zeros", std::string(256 * 1024, '\0')},
      {"nearly a status file", NearlyStatus(50000, 7)},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    WriteStatus(c.content);
    const AgentScan scan = MustScan();
    if (!scan.parsed) continue;
    EXPECT_EQ(scan.report.verdict(), v1::VERDICT_CLEAN) << FindingIds(scan.report);
    const v1::ProbeRun* dpkg = FindProbe(scan.report, "dpkg");
    ASSERT_NE(dpkg, nullptr);
    EXPECT_NE(dpkg->state(), v1::PROBE_STATE_ABSENT);

    // The parser finds its feet again at the next blank line: a real stanza after the garbage still counts.
    WriteStatus(c.content + "\n\n" + kKeslStanza);
    const AgentScan again = MustScan();
    if (!again.parsed) continue;
    const v1::Finding* f = FindFinding(again.report, "kesl");
    ASSERT_NE(f, nullptr) << FindingIds(again.report) << "\n" << JoinWarnings(again.report);
    EXPECT_EQ(f->state(), v1::PRODUCT_STATE_INSTALLED);
    EXPECT_EQ(f->version(), "12.1.0.1234");
  }
}

TEST_F(AgentBadInputTest, StanzaCutMidLineIsAWarningNotAFinding) {
  WriteStatus(std::string(kKeslStanza) + "\nPackage: klnagent64\nVersion: 15.1.0.20748\nStatus: install ok inst");
  const AgentScan scan = MustScan();
  ASSERT_TRUE(scan.parsed);
  const v1::Finding* kesl = FindFinding(scan.report, "kesl");
  ASSERT_NE(kesl, nullptr) << FindingIds(scan.report);
  EXPECT_EQ(kesl->state(), v1::PRODUCT_STATE_INSTALLED);
  // "install ok inst" is no dpkg state: not an install, and the report says which package and where.
  EXPECT_EQ(FindFinding(scan.report, "klnagent"), nullptr) << FindingIds(scan.report);
  EXPECT_TRUE(AnyWarningContains(scan.report, "klnagent64")) << JoinWarnings(scan.report);
  EXPECT_TRUE(AnyWarningContains(scan.report, "/var/lib/dpkg/status")) << JoinWarnings(scan.report);

  // Cut inside a field name.
  WriteStatus(std::string(kKeslStanza) + "\nPackage: kess\nStat");
  const AgentScan cut = MustScan();
  ASSERT_TRUE(cut.parsed);
  EXPECT_NE(FindFinding(cut.report, "kesl"), nullptr) << FindingIds(cut.report);
  EXPECT_EQ(FindFinding(cut.report, "kess"), nullptr) << FindingIds(cut.report);
}

TEST_F(AgentBadInputTest, LastLineWithoutNewlineCounts) {
  WriteStatus("Package: kesl\nStatus: install ok installed\nVersion: 12.1.0.1234");
  const AgentScan scan = MustScan();
  ASSERT_TRUE(scan.parsed);
  const v1::Finding* f = FindFinding(scan.report, "kesl");
  ASSERT_NE(f, nullptr) << FindingIds(scan.report);
  EXPECT_EQ(f->state(), v1::PRODUCT_STATE_INSTALLED);
  EXPECT_EQ(f->version(), "12.1.0.1234");
}

// 300,000 stanzas shaped like real ones, over 100 MiB: the scan completes and misses nothing in the middle or at
// the end.
TEST_F(AgentBadInputTest, HundredMegabyteStatusFileCompletes) {
  constexpr int kPackages = 300000;
  MakeDirs(root_.Sub("var/lib/dpkg"));
  {
    std::ofstream out(Status(), std::ios::binary);
    const std::string filler(150, 'x');
    for (int i = 0; i < kPackages; ++i) {
      if (i == kPackages / 2) out << kKeslStanza << "\n";
      out << "Package: fixture-pkg-" << i << "\nStatus: install ok installed\nPriority: optional\nSection: libs\n"
          << "Installed-Size: " << (i % 9000) << "\nMaintainer: Fixture Maintainers <fixture@example.org>\n"
          << "Architecture: amd64\nVersion: 1." << i << "-1\nDepends: libc6 (>= 2.36)\n"
          << "Description: fixture package " << i << "\n " << filler << "\n\n";
    }
    out << "Package: klnagent64\nStatus: install ok installed\nVersion: 15.1.0.20748\n";
    ASSERT_TRUE(out.good());
  }
  ASSERT_GE(std::filesystem::file_size(Status()), 100u * 1024 * 1024);

  const AgentScan scan = MustScan({}, std::chrono::minutes(4));
  ASSERT_TRUE(scan.parsed);
  const v1::ProbeRun* dpkg = FindProbe(scan.report, "dpkg");
  ASSERT_NE(dpkg, nullptr);
  EXPECT_EQ(dpkg->state(), v1::PROBE_STATE_OK) << dpkg->message();
  EXPECT_EQ(dpkg->items(), kPackages + 2);
  const v1::Finding* kesl = FindFinding(scan.report, "kesl");
  ASSERT_NE(kesl, nullptr) << FindingIds(scan.report);
  EXPECT_EQ(kesl->version(), "12.1.0.1234");
  const v1::Finding* agent = FindFinding(scan.report, "klnagent");
  ASSERT_NE(agent, nullptr) << FindingIds(scan.report);
  EXPECT_EQ(agent->version(), "15.1.0.20748");
  EXPECT_EQ(scan.report.findings_size(), 2) << FindingIds(scan.report);
}

TEST_F(AgentBadInputTest, MegabyteLinesAreSkippedWithAWarning) {
  const std::string mib(1024 * 1024, 'x');
  // Inside a stanza: the long line is dropped, the fields around it still count.
  WriteStatus("Package: kesl\nStatus: install ok installed\nDescription: " + mib + "\nVersion: 1.0\n");
  const AgentScan scan = MustScan();
  ASSERT_TRUE(scan.parsed);
  const v1::Finding* f = FindFinding(scan.report, "kesl");
  ASSERT_NE(f, nullptr) << FindingIds(scan.report);
  EXPECT_EQ(f->version(), "1.0");
  EXPECT_TRUE(AnyWarningContains(scan.report, "longer than")) << JoinWarnings(scan.report);

  // The whole file one line, no newline at all.
  WriteStatus("Package: kesl" + mib);
  const AgentScan one = MustScan();
  ASSERT_TRUE(one.parsed);
  EXPECT_EQ(one.report.verdict(), v1::VERDICT_CLEAN) << FindingIds(one.report);
}

// Unreadable folders must show as a failed, incomplete scan, never as "nothing here". Permissions do not bite root
// (CI runs as root), so there the agent runs as the unprivileged user `nobody`.
TEST_F(AgentBadInputTest, UnreadableFoldersAreReportedNotIgnored) {
  RunOptions as_user;
  if (::geteuid() == 0) {
    const passwd* nobody = ::getpwnam("nobody");
    if (nobody == nullptr) GTEST_SKIP() << "running as root and there is no user 'nobody' to drop privileges to";
    as_user.uid = nobody->pw_uid;
    as_user.gid = nobody->pw_gid;
    const ProcessResult probe = RunProcess({AgentBinary(), "--version"}, as_user);
    if (!probe.Exited(0)) {
      GTEST_SKIP() << "running as root and 'nobody' cannot run " << AgentBinary() << ": " << probe.Describe();
    }
  }
  WriteStatus(kKeslStanza);
  WriteFile(root_.Sub("opt/kaspersky/kesl/bin/kesl-control"), "#!/bin/sh\n", 0755);
  {
    // Precondition: readable, the same user finds kesl (so what follows is about the permissions alone).
    const AgentScan readable = ScanRoot(root_.path(), {}, as_user);
    if (readable.process.Exited(2) && as_user.uid) {
      GTEST_SKIP() << "'nobody' cannot reach the temp folder " << root_.path() << " (TMPDIR not traversable?): "
                   << readable.process.Describe();
    }
    ASSERT_TRUE(readable.parsed) << readable.parse_error;
    ASSERT_NE(FindFinding(readable.report, "kesl"), nullptr) << FindingIds(readable.report);
  }
  ASSERT_EQ(::chmod(root_.Sub("var/lib/dpkg").c_str(), 0), 0);
  ASSERT_EQ(::chmod(root_.Sub("opt/kaspersky").c_str(), 0), 0);

  const AgentScan scan = ScanRoot(root_.path(), {}, as_user);
  ASSERT_TRUE(scan.process.Exited(0)) << scan.process.Describe();
  ASSERT_TRUE(scan.parsed) << scan.parse_error;
  const v1::ProbeRun* dpkg = FindProbe(scan.report, "dpkg");
  ASSERT_NE(dpkg, nullptr);
  // A package database that is there but cannot be read is a failed probe, not an absent one: otherwise a host
  // with kesl installed reads as clean.
  EXPECT_EQ(dpkg->state(), v1::PROBE_STATE_FAILED) << v1::ProbeState_Name(dpkg->state()) << ": " << dpkg->message();
  EXPECT_NE(dpkg->message().find("/var/lib/dpkg"), std::string::npos) << dpkg->message();
  EXPECT_TRUE(AnyWarningContains(scan.report, "dpkg")) << JoinWarnings(scan.report);
  EXPECT_TRUE(AnyWarningContains(scan.report, "/opt/kaspersky/kesl")) << JoinWarnings(scan.report);
  EXPECT_TRUE(AnyWarningContains(scan.report, "Permission denied")) << JoinWarnings(scan.report);

  // The root itself unreadable: exit 2, naming it.
  ASSERT_EQ(::chmod(root_.path().c_str(), 0), 0);
  const ProcessResult r = RunProcess({AgentBinary(), "scan", "--root", root_.path(), "--json"}, as_user);
  ::chmod(root_.path().c_str(), 0755);
  EXPECT_TRUE(r.Exited(2)) << r.Describe();
  EXPECT_NE(r.err.find(root_.path()), std::string::npos) << r.err;
}

TEST_F(AgentBadInputTest, SymlinkLoopsEndInWarningsNotHangs) {
  MakeDirs(root_.Sub("var/lib/dpkg"));
  Symlink("status.b", Status());                             // status -> status.b -> status
  Symlink("status", root_.Sub("var/lib/dpkg/status.b"));
  Symlink("kesl", root_.Sub("opt/kaspersky/kesl"));          // a link to itself
  Symlink("kesl.service", root_.Sub("etc/systemd/system/kesl.service"));
  Symlink("/etc/init.d", root_.Sub("etc/init.d"));           // absolute, to itself once inside the root
  Symlink("../kaspersky/ScanEngine", root_.Sub("opt/kaspersky/ScanEngine"));  // to itself through its parent

  const AgentScan scan = MustScan({}, std::chrono::seconds(30));
  ASSERT_TRUE(scan.parsed);
  EXPECT_EQ(FindFinding(scan.report, "kesl"), nullptr) << FindingIds(scan.report);
  EXPECT_EQ(FindFinding(scan.report, "scanengine"), nullptr) << FindingIds(scan.report);
  EXPECT_TRUE(AnyWarningContains(scan.report, "/opt/kaspersky/kesl")) << JoinWarnings(scan.report);
  // The status file is there but unreadable: a failed probe, named, never "no dpkg database".
  const v1::ProbeRun* dpkg = FindProbe(scan.report, "dpkg");
  ASSERT_NE(dpkg, nullptr);
  EXPECT_EQ(dpkg->state(), v1::PROBE_STATE_FAILED) << v1::ProbeState_Name(dpkg->state()) << ": " << dpkg->message();
  EXPECT_NE(dpkg->message().find("symbolic links"), std::string::npos) << dpkg->message();
}

TEST_F(AgentBadInputTest, FifosNeverBlockTheScan) {
  MakeDirs(root_.Sub("var/lib/dpkg"));
  ASSERT_EQ(::mkfifo(Status().c_str(), 0644), 0);
  MakeDirs(root_.Sub("opt/kaspersky/ScanEngine/bin"));
  ASSERT_EQ(::mkfifo(root_.Sub("opt/kaspersky/ScanEngine/bin/kavhttpd").c_str(), 0755), 0);

  const AgentScan scan = MustScan({}, std::chrono::seconds(30));
  ASSERT_TRUE(scan.parsed);
  const v1::ProbeRun* dpkg = FindProbe(scan.report, "dpkg");
  ASSERT_NE(dpkg, nullptr);
  EXPECT_EQ(dpkg->state(), v1::PROBE_STATE_FAILED) << dpkg->message();
  EXPECT_NE(dpkg->message().find("/var/lib/dpkg/status"), std::string::npos) << dpkg->message();
  EXPECT_NE(dpkg->message().find("not a regular file"), std::string::npos) << dpkg->message();
  EXPECT_TRUE(AnyWarningContains(scan.report, "incomplete")) << JoinWarnings(scan.report);
  for (const auto& f : scan.report.findings()) {
    for (const auto& e : f.evidence()) EXPECT_TRUE(e.sha256().empty()) << "hashed a FIFO: " << e.DebugString();
  }
}

TEST_F(AgentBadInputTest, MissingOrNonFolderRootIsExit2NamingIt) {
  const std::string missing = root_.Sub("no/such/root");
  ProcessResult r = RunProcess({AgentBinary(), "scan", "--root", missing, "--json"});
  EXPECT_TRUE(r.Exited(2)) << r.Describe();
  EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;

  const std::string file = root_.Sub("a-file");
  WriteFile(file, "not a folder\n");
  r = RunProcess({AgentBinary(), "scan", "--root", file, "--fail-on-detect"});
  EXPECT_TRUE(r.Exited(2)) << r.Describe();
  EXPECT_NE(r.err.find(file), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not a directory"), std::string::npos) << r.err;
}

TEST_F(AgentBadInputTest, BadArgumentsAreExit2WithUsage) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {AgentBinary()}, {AgentBinary(), "scna"}, {AgentBinary(), "scan", "--bogus"},
           {AgentBinary(), "scan", "--root"}}) {
    const ProcessResult r = RunProcess(args);
    EXPECT_TRUE(r.Exited(2)) << testing::PrintToString(args) << ": " << r.Describe();
    EXPECT_NE(r.err.find("usage:"), std::string::npos) << r.err;
  }
}

// Each kind of rules error: exit 2, and stderr names the file, the field and the reason.
TEST_F(AgentBadInputTest, BadRulesFilesAreExit2NamingFileFieldAndReason) {
  const std::string signal_ok =
      R"({"kind": "SIGNAL_KIND_PACKAGE", "pattern": "acme", "strength": "STRENGTH_STRONG", "confidence": "CONFIDENCE_CODE"})";
  auto product = [](const std::string& id_part, const std::string& signals, const std::string& extra = "") {
    return "{" + id_part + R"("name": "Acme", "platform": "PLATFORM_LINUX", )" + extra + R"("signals": [)" +
           signals + "]}";
  };
  auto rules = [](const std::string& products) { return R"({"version": "t", "products": [)" + products + "]}"; };
  const struct {
    const char* name;
    std::string json;
    std::vector<std::string> want;  // substrings of stderr besides the file name
  } cases[] = {
      {"unknown field", rules(product(R"("id": "acme", )", signal_ok, R"("colour": "red", )")), {"colour"}},
      {"bad pattern",
       rules(product(R"("id": "acme", )",
                     R"({"kind": "SIGNAL_KIND_PACKAGE", "pattern": "kesl[", "strength": "STRENGTH_STRONG", "confidence": "CONFIDENCE_CODE"})")),
       {"products[0]", "signals[0]", "pattern", "'['"}},
      {"missing id", rules(product("", signal_ok)), {"products[0].id", "missing"}},
      {"duplicate id", rules(product(R"("id": "acme", )", signal_ok) + "," + product(R"("id": "acme", )", signal_ok)),
       {"products[1].id", "duplicate", "acme"}},
      {"only weak signals",
       rules(product(R"("id": "acme", )",
                     R"({"kind": "SIGNAL_KIND_PACKAGE", "pattern": "acme", "strength": "STRENGTH_WEAK", "confidence": "CONFIDENCE_CODE"})")),
       {"products[0]", "signals", "STRONG"}},
      {"relative path",
       rules(product(R"("id": "acme", )",
                     R"({"kind": "SIGNAL_KIND_PATH", "pattern": "opt/acme", "strength": "STRENGTH_STRONG", "confidence": "CONFIDENCE_CODE"})")),
       {"products[0]", "pattern", "absolute"}},
      {"bad enum value",
       rules(product(R"("id": "acme", )",
                     R"({"kind": "SIGNAL_KIND_TELEPATHY", "pattern": "acme", "strength": "STRENGTH_STRONG", "confidence": "CONFIDENCE_CODE"})")),
       {"SIGNAL_KIND_TELEPATHY"}},
      {"bad JSON", R"({"version": "t", "products": [ {"id": "acme", )", {}},
      {"empty file", "", {}},
      {"no products", R"({"version": "t"})", {"products"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = root_.Sub(std::string("rules-") + std::to_string(&c - cases) + ".json");
    WriteFile(path, c.json);
    const ProcessResult r =
        RunProcess({AgentBinary(), "scan", "--root", root_.path(), "--rules", path, "--json", "--fail-on-detect"},
                   RunOptions::WithDeadline(std::chrono::seconds(20)));
    EXPECT_TRUE(r.Exited(2)) << r.Describe();
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
    for (const auto& w : c.want) EXPECT_NE(r.err.find(w), std::string::npos) << "want '" << w << "' in: " << r.err;
  }
}

// A rules path that is not a regular file: a clear error, and never a wait for a FIFO writer that never comes.
TEST_F(AgentBadInputTest, RulesFileThatIsNotAFileIsExit2) {
  const std::string missing = root_.Sub("missing.rules.json");
  ProcessResult r = RunProcess({AgentBinary(), "scan", "--root", root_.path(), "--rules", missing});
  EXPECT_TRUE(r.Exited(2)) << r.Describe();
  EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;

  const std::string dir = root_.Sub("rules.d");
  MakeDirs(dir);
  r = RunProcess({AgentBinary(), "scan", "--root", root_.path(), "--rules", dir});
  EXPECT_TRUE(r.Exited(2)) << r.Describe();
  EXPECT_NE(r.err.find(dir), std::string::npos) << r.err;
  EXPECT_TRUE(r.err.find("directory") != std::string::npos || r.err.find("not a regular file") != std::string::npos)
      << "the reason should say it is a folder, not a JSON error: " << r.err;

  const std::string fifo = root_.Sub("rules.fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  r = RunProcess({AgentBinary(), "scan", "--root", root_.path(), "--rules", fifo},
                 RunOptions::WithDeadline(std::chrono::seconds(10)));
  EXPECT_FALSE(r.timed_out) << "ksweep-agent hangs opening a FIFO given as --rules";
  EXPECT_TRUE(r.Exited(2)) << r.Describe();
  EXPECT_NE(r.err.find(fifo), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ksweep::test
