// `ksweep-agent scan` of this machine's live root: fake Kaspersky daemons (copies of a harmless binary) are seen
// RUNNING and vanish when they exit; the machine itself is clean. Every test here runs under
// RESOURCE_LOCK live_root (tests/integration/CMakeLists.txt) so a fake daemon never meets the clean-host test.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/probe_registry.h"
#include "agent/scan.h"
#include "common/logging.h"
#include "common/rules.h"
#include "tests/integration/test_util.h"

namespace ksweep::test {
namespace {

std::string CommOf(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(f, name);
  return name;
}

std::string HarmlessBinary() {
  for (const char* p : {"/usr/bin/sleep", "/bin/sleep"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return {};
}

// A copy of `sleep` named like a Kaspersky daemon, started and seen by the kernel under that name.
class FakeDaemon {
 public:
  FakeDaemon(const TempDir& dir, const std::string& name) : path_(dir.Sub(name)) {
    const std::string sleep = HarmlessBinary();
    if (sleep.empty()) {
      error_ = "no sleep binary";
      return;
    }
    std::filesystem::copy_file(sleep, path_, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::permissions(path_, std::filesystem::perms(0755));
    if (!child_.Start({path_, "600"}, &error_)) return;
    const pid_t pid = child_.pid();
    if (!WaitFor([&] { return CommOf(pid) == name; })) error_ = "pid " + std::to_string(pid) + " never became " + name;
  }
  const std::string& error() const { return error_; }
  const std::string& path() const { return path_; }
  pid_t pid() const { return child_.pid(); }
  void Stop() { child_.Stop(); }

 private:
  std::string path_;
  std::string error_;
  Child child_;
};

const v1::Evidence* ProcessEvidenceOf(const v1::Finding& f, pid_t pid) {
  for (const auto& e : f.evidence()) {
    if (e.kind() == v1::EVIDENCE_KIND_PROCESS && e.pid() == pid) return &e;
  }
  return nullptr;
}

bool AnyEvidenceForPid(const v1::HostReport& report, pid_t pid) {
  for (const auto& f : report.findings()) {
    if (ProcessEvidenceOf(f, pid) != nullptr) return true;
  }
  return false;
}

AgentScan ScanLiveDefault(const std::vector<std::string>& extra = {}) {
  // No --root: the live host is the default.
  std::vector<std::string> argv = {AgentBinary(), "scan", "--json"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  AgentScan scan;
  scan.process = RunProcess(argv);
  if (scan.process.Exited(0) || scan.process.Exited(3)) {
    scan.parsed = ParseReport(scan.process.out, &scan.report, &scan.parse_error);
  } else {
    scan.parse_error = scan.process.Describe();
  }
  return scan;
}

TEST(AgentLiveTest, FakeDaemonsAreRunningThenGone) {
  TempDir dir("live");
  FakeDaemon kesl(dir, "kesl");
  ASSERT_EQ(kesl.error(), "");
  FakeDaemon klnagent(dir, "klnagent");
  ASSERT_EQ(klnagent.error(), "");

  {
    const AgentScan scan = ScanLiveDefault({"--fail-on-detect"});
    EXPECT_TRUE(scan.process.Exited(3)) << scan.process.Describe();
    ASSERT_TRUE(scan.parsed) << scan.parse_error;
    EXPECT_EQ(scan.report.host().root(), "/");
    EXPECT_EQ(scan.report.verdict(), v1::VERDICT_RUNNING);
    const struct {
      const char* product;
      const FakeDaemon* daemon;
    } want[] = {{"kesl", &kesl}, {"klnagent", &klnagent}};
    for (const auto& w : want) {
      SCOPED_TRACE(w.product);
      const v1::Finding* f = FindFinding(scan.report, w.product);
      ASSERT_NE(f, nullptr) << FindingIds(scan.report);
      EXPECT_EQ(f->state(), v1::PRODUCT_STATE_RUNNING);
      const v1::Evidence* e = ProcessEvidenceOf(*f, w.daemon->pid());
      ASSERT_NE(e, nullptr) << "no PROCESS evidence with pid " << w.daemon->pid() << ": " << f->DebugString();
      EXPECT_EQ(e->path(), "/proc/" + std::to_string(w.daemon->pid()));
      EXPECT_EQ(e->implies(), v1::PRODUCT_STATE_RUNNING);
      EXPECT_EQ(e->strength(), v1::STRENGTH_STRONG);
      if (::geteuid() == 0) {
        // Root reads every /proc/PID/exe: the evidence names the binary a person can inspect.
        EXPECT_NE(e->detail().find(w.daemon->path()), std::string::npos) << e->detail();
      }
    }
  }

  kesl.Stop();  // killed and reaped: /proc/PID is gone when this returns
  {
    const AgentScan scan = ScanRoot("/");
    ASSERT_TRUE(scan.process.Exited(0)) << scan.process.Describe();
    ASSERT_TRUE(scan.parsed) << scan.parse_error;
    EXPECT_EQ(FindFinding(scan.report, "kesl"), nullptr) << FindingIds(scan.report);
    EXPECT_FALSE(AnyEvidenceForPid(scan.report, kesl.pid()));
    const v1::Finding* f = FindFinding(scan.report, "klnagent");
    ASSERT_NE(f, nullptr) << FindingIds(scan.report);
    EXPECT_NE(ProcessEvidenceOf(*f, klnagent.pid()), nullptr);
  }

  klnagent.Stop();
  {
    const AgentScan scan = ScanRoot("/", {"--fail-on-detect"});
    EXPECT_TRUE(scan.process.Exited(0)) << scan.process.Describe();
    ASSERT_TRUE(scan.parsed) << scan.parse_error;
    EXPECT_EQ(FindFinding(scan.report, "kesl"), nullptr) << FindingIds(scan.report);
    EXPECT_EQ(FindFinding(scan.report, "klnagent"), nullptr) << FindingIds(scan.report);
  }
}

// `wdserver` is a WEAK process signal of kesl (an inferred KESL 10 supervisor name): alone it flags nothing.
TEST(AgentLiveTest, WeakProcessAloneFlagsNothing) {
  TempDir dir("live-weak");
  FakeDaemon wd(dir, "wdserver");
  ASSERT_EQ(wd.error(), "");
  const AgentScan scan = ScanRoot("/", {"--fail-on-detect"});
  EXPECT_TRUE(scan.process.Exited(0)) << scan.process.Describe();
  ASSERT_TRUE(scan.parsed) << scan.parse_error;
  EXPECT_EQ(FindFinding(scan.report, "kesl"), nullptr) << FindingIds(scan.report);
  EXPECT_FALSE(AnyEvidenceForPid(scan.report, wd.pid()));
}

// This machine carries no Kaspersky software: zero findings, CLEAN, exit 0 even with --fail-on-detect.
TEST(AgentLiveTest, CleanHostIsClean) {
  const AgentScan scan = ScanLiveDefault({"--fail-on-detect"});
  ASSERT_TRUE(scan.process.Exited(0)) << scan.process.Describe();
  ASSERT_TRUE(scan.parsed) << scan.parse_error;
  EXPECT_EQ(scan.report.verdict(), v1::VERDICT_CLEAN) << FindingIds(scan.report);
  EXPECT_EQ(scan.report.findings_size(), 0) << FindingIds(scan.report);
  EXPECT_NE(scan.process.out.find("\"verdict\": \"VERDICT_CLEAN\""), std::string::npos) << scan.process.out;
  EXPECT_FALSE(scan.report.host().host_id().empty());
  EXPECT_FALSE(scan.report.host().hostname().empty());

  // A live scan looks at processes; on a Debian host the package database is read too.
  const v1::ProbeRun* processes = FindProbe(scan.report, "processes");
  ASSERT_NE(processes, nullptr);
  EXPECT_EQ(processes->state(), v1::PROBE_STATE_OK);
  EXPECT_GT(processes->items(), 0);
  if (std::filesystem::exists("/var/lib/dpkg/status")) {
    const v1::ProbeRun* dpkg = FindProbe(scan.report, "dpkg");
    ASSERT_NE(dpkg, nullptr);
    EXPECT_EQ(dpkg->state(), v1::PROBE_STATE_OK) << dpkg->message();
    EXPECT_GT(dpkg->items(), 0);
  }
  for (const auto& p : scan.report.probes()) {
    EXPECT_NE(p.state(), v1::PROBE_STATE_FAILED) << p.name() << ": " << p.message();
  }

  // The table says so too.
  const ProcessResult table = RunProcess({AgentBinary(), "scan"});
  ASSERT_TRUE(table.Exited(0)) << table.Describe();
  EXPECT_NE(table.out.find("Verdict  CLEAN"), std::string::npos) << table.out;

  // And the library, called directly.
  auto rules = BuiltinRules();
  ASSERT_TRUE(rules.ok()) << rules.status().message();
  agent::ProbeRegistry registry;
  agent::RegisterBuiltinProbes(registry);
  auto report = agent::Scan(agent::ScanOptions{}, *rules, registry, NullLogger());
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(report->verdict(), v1::VERDICT_CLEAN) << FindingIds(*report);
  EXPECT_FALSE(agent::HasActiveFinding(*report));
}

}  // namespace
}  // namespace ksweep::test
