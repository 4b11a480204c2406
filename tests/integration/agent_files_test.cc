// `ksweep-agent scan` of roots without a package record of the product: install folders, binaries (hashed), unit
// files; symlinks taken as the scanned system sees them; weak signals that must never flag a root alone.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/integration/test_util.h"

namespace ksweep::test {
namespace {

bool HostPathExists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

TEST(AgentFilesTest, ScanEngineBinaryIsInstalledWithItsSha256) {
  TempDir root("files-root");
  const std::string bin = root.Sub("opt/kaspersky/ScanEngine/bin/kavhttpd");
  WriteFile(bin, "#!/bin/sh\n# Kaspersky Scan Engine HTTP daemon (ksweep fixture)\nexit 0\n", 0755);
  const std::string want_sha = Sha256Sum(bin);
  ASSERT_EQ(want_sha.size(), 64u);

  const AgentScan scan = ScanRoot(root.path(), {"--fail-on-detect"});
  EXPECT_TRUE(scan.process.Exited(3)) << scan.process.Describe();
  ASSERT_TRUE(scan.parsed) << scan.parse_error;
  EXPECT_EQ(scan.report.verdict(), v1::VERDICT_INSTALLED);
  EXPECT_EQ(scan.report.findings_size(), 1) << FindingIds(scan.report);
  const v1::Finding* f = FindFinding(scan.report, "scanengine");
  ASSERT_NE(f, nullptr) << FindingIds(scan.report);
  EXPECT_EQ(f->state(), v1::PRODUCT_STATE_INSTALLED);
  const v1::Evidence* e = FindEvidence(*f, v1::EVIDENCE_KIND_BINARY);
  ASSERT_NE(e, nullptr) << f->DebugString();
  EXPECT_EQ(e->path(), "/opt/kaspersky/ScanEngine/bin/kavhttpd");
  EXPECT_EQ(e->sha256(), want_sha);
  EXPECT_EQ(e->strength(), v1::STRENGTH_STRONG);
  const v1::Evidence* folder = FindEvidence(*f, v1::EVIDENCE_KIND_PATH);
  ASSERT_NE(folder, nullptr) << f->DebugString();
  EXPECT_EQ(folder->path(), "/opt/kaspersky/ScanEngine");

  // No package database here: the dpkg probe is absent, not failing.
  const v1::ProbeRun* dpkg = FindProbe(scan.report, "dpkg");
  ASSERT_NE(dpkg, nullptr);
  EXPECT_EQ(dpkg->state(), v1::PROBE_STATE_ABSENT);

  // Another binary, another hash: the digest is of the file, not a constant.
  WriteFile(bin, "different content\n", 0755);
  const AgentScan again = ScanRoot(root.path());
  ASSERT_TRUE(again.parsed) << again.parse_error;
  const v1::Finding* f2 = FindFinding(again.report, "scanengine");
  ASSERT_NE(f2, nullptr);
  const v1::Evidence* e2 = FindEvidence(*f2, v1::EVIDENCE_KIND_BINARY);
  ASSERT_NE(e2, nullptr);
  EXPECT_EQ(e2->sha256(), Sha256Sum(bin));
  EXPECT_NE(e2->sha256(), want_sha);
}

TEST(AgentFilesTest, UnitFileAloneIsAnInstallAndAMaskedUnitIsNot) {
  TempDir root("unit-root");
  WriteFile(root.Sub("etc/systemd/system/kesl.service"),
            "[Unit]\nDescription=Kaspersky Endpoint Security (ksweep fixture)\n[Service]\nExecStart=/bin/true\n");
  // Masked: a link to /dev/null is how systemd says "never start this", not an installation.
  Symlink("/dev/null", root.Sub("etc/systemd/system/klnagent64.service"));

  const AgentScan scan = ScanRoot(root.path());
  ASSERT_TRUE(scan.process.Exited(0)) << scan.process.Describe();
  ASSERT_TRUE(scan.parsed) << scan.parse_error;
  EXPECT_EQ(scan.report.verdict(), v1::VERDICT_INSTALLED);
  EXPECT_EQ(scan.report.findings_size(), 1) << FindingIds(scan.report);
  const v1::Finding* f = FindFinding(scan.report, "kesl");
  ASSERT_NE(f, nullptr) << FindingIds(scan.report);
  EXPECT_EQ(f->state(), v1::PRODUCT_STATE_INSTALLED);  // a fixture root is never RUNNING
  const v1::Evidence* e = FindEvidence(*f, v1::EVIDENCE_KIND_SERVICE);
  ASSERT_NE(e, nullptr) << f->DebugString();
  EXPECT_EQ(e->path(), "/etc/systemd/system/kesl.service");
  EXPECT_EQ(FindFinding(scan.report, "klnagent"), nullptr) << FindingIds(scan.report);
}

// /var/lib/dpkg -> /data/dpkg is read as the scanned system reads it: root/data/dpkg, never the host's /data/dpkg.
TEST(AgentFilesTest, AbsoluteSymlinkResolvesInsideTheRoot) {
  ASSERT_FALSE(HostPathExists("/data/dpkg/status")) << "this host has a /data/dpkg/status: the test needs it absent";
  TempDir debs("files-debs");
  TempDir root("symlink-root");
  ProcessResult r = RunProcess({"/bin/sh", DebFixtureScript(), "deb", debs.path(), "kesl", "12.1.0.1234", "--file",
                                "/opt/kaspersky/kesl/bin/kesl-control"});
  ASSERT_TRUE(r.Exited(0)) << r.Describe();
  r = RunProcess({"/bin/sh", DebFixtureScript(), "dpkg", root.path(), "-i", debs.Sub("kesl.deb")});
  ASSERT_TRUE(r.Exited(0)) << r.Describe();
  // Move the database to /data/dpkg and leave only an absolute link where dpkg looks for it.
  MakeDirs(root.Sub("data"));
  std::filesystem::rename(root.Sub("var/lib/dpkg"), root.Sub("data/dpkg"));
  std::filesystem::remove_all(root.Sub("opt"));
  Symlink("/data/dpkg", root.Sub("var/lib/dpkg"));

  const AgentScan scan = ScanRoot(root.path());
  ASSERT_TRUE(scan.process.Exited(0)) << scan.process.Describe();
  ASSERT_TRUE(scan.parsed) << scan.parse_error;
  const v1::ProbeRun* dpkg = FindProbe(scan.report, "dpkg");
  ASSERT_NE(dpkg, nullptr);
  EXPECT_EQ(dpkg->state(), v1::PROBE_STATE_OK) << dpkg->message();
  const v1::Finding* f = FindFinding(scan.report, "kesl");
  ASSERT_NE(f, nullptr) << FindingIds(scan.report) << "\n" << JoinWarnings(scan.report);
  EXPECT_EQ(f->state(), v1::PRODUCT_STATE_INSTALLED);
  EXPECT_EQ(f->version(), "12.1.0.1234");
  const v1::Evidence* e = FindEvidence(*f, v1::EVIDENCE_KIND_DPKG_PACKAGE);
  ASSERT_NE(e, nullptr) << f->DebugString();
  EXPECT_EQ(e->path(), "/var/lib/dpkg/status");  // as the scanned system names it
}

// Links that would lead out of the root on the host (absolute, or climbing with '..') stay inside it, so nothing of
// the scanning host is reported as the scanned root's.
TEST(AgentFilesTest, SymlinksNeverLeaveTheRoot) {
  TempDir outside("outside");
  TempDir root("escape-root");
  WriteFile(outside.Sub("ScanEngine/bin/kavhttpd"), "#!/bin/sh\nexit 0\n", 0755);
  WriteFile(outside.Sub("units/kesl.service"), "[Unit]\nDescription=host-side unit, not the root's\n");
  WriteFile(outside.Sub("dpkg/status"), "Package: klnagent64\nStatus: install ok installed\nVersion: 15.1.0.20748\n\n");

  // Absolute link to the host folder.
  Symlink(outside.Sub("ScanEngine"), root.Sub("opt/kaspersky/ScanEngine"));
  // Relative link with enough '..' to reach the host's / from root/etc/systemd/system, then down into `outside`.
  std::string up;
  for (int i = 0; i < 32; ++i) up += "../";
  Symlink(up + outside.Sub("units/kesl.service").substr(1), root.Sub("etc/systemd/system/kesl.service"));
  Symlink(up + outside.Sub("dpkg").substr(1), root.Sub("var/lib/dpkg"));
  // Preconditions: on the host, each link does reach the outside file (so the test can fail).
  ASSERT_TRUE(HostPathExists(root.Sub("opt/kaspersky/ScanEngine/bin/kavhttpd")));
  ASSERT_TRUE(HostPathExists(root.Sub("etc/systemd/system/kesl.service")));
  ASSERT_TRUE(HostPathExists(root.Sub("var/lib/dpkg/status")));

  const AgentScan scan = ScanRoot(root.path());
  ASSERT_TRUE(scan.process.Exited(0)) << scan.process.Describe();
  ASSERT_TRUE(scan.parsed) << scan.parse_error;
  EXPECT_EQ(FindFinding(scan.report, "scanengine"), nullptr) << FindingIds(scan.report);
  EXPECT_EQ(FindFinding(scan.report, "kesl"), nullptr) << FindingIds(scan.report);
  EXPECT_EQ(FindFinding(scan.report, "klnagent"), nullptr) << FindingIds(scan.report);
  for (const auto& f : scan.report.findings()) {
    for (const auto& e : f.evidence()) {
      EXPECT_TRUE(e.sha256().empty()) << "hashed a file outside the root: " << e.DebugString();
      EXPECT_EQ(e.detail().find(outside.path()), std::string::npos) << e.DebugString();
    }
  }
}

// A product whose only weak signal matches is not reported; its strong signal establishes the finding and decides
// the state, the weak one only corroborates.
TEST(AgentFilesTest, WeakSignalAloneIsCleanAndNeverRaisesTheState) {
  TempDir work("weak");
  const std::string rules = work.Sub("acme.rules.json");
  WriteFile(rules, R"({
  "version": "test-weak-1",
  "products": [{
    "id": "acme",
    "name": "Acme Endpoint Agent",
    "vendor": "Acme",
    "platform": "PLATFORM_LINUX",
    "signals": [
      {"kind": "SIGNAL_KIND_PATH", "pattern": "/opt/acme-shared", "strength": "STRENGTH_WEAK",
       "confidence": "CONFIDENCE_CODE", "note": "shared with other vendors"},
      {"kind": "SIGNAL_KIND_PACKAGE", "pattern": "acme-agent", "strength": "STRENGTH_STRONG",
       "confidence": "CONFIDENCE_OFFICIAL"}
    ]
  }]
})");
  const std::string root = work.Sub("root");
  WriteFile(root + "/opt/acme-shared/lib/libshared.so", "not really a library\n");

  {
    const AgentScan scan = ScanRoot(root, {"--rules", rules, "--fail-on-detect"});
    ASSERT_TRUE(scan.process.Exited(0)) << scan.process.Describe();
    ASSERT_TRUE(scan.parsed) << scan.parse_error;
    EXPECT_EQ(scan.report.verdict(), v1::VERDICT_CLEAN);
    EXPECT_EQ(scan.report.findings_size(), 0) << FindingIds(scan.report);
    EXPECT_EQ(scan.report.rules_version(), "test-weak-1");
  }

  // Now the package is installed by dpkg: a finding with both evidences, strong first.
  ProcessResult r = RunProcess({"/bin/sh", DebFixtureScript(), "deb", work.path(), "acme-agent", "2.4.1", "--file",
                                "/usr/sbin/acme-agentd", "--conffile", "/etc/acme/agent.conf", "--maintainer",
                                "Acme <support@acme.example>"});
  ASSERT_TRUE(r.Exited(0)) << r.Describe();
  r = RunProcess({"/bin/sh", DebFixtureScript(), "dpkg", root, "-i", work.Sub("acme-agent.deb")});
  ASSERT_TRUE(r.Exited(0)) << r.Describe();
  {
    const AgentScan scan = ScanRoot(root, {"--rules", rules, "--fail-on-detect"});
    EXPECT_TRUE(scan.process.Exited(3)) << scan.process.Describe();
    ASSERT_TRUE(scan.parsed) << scan.parse_error;
    EXPECT_EQ(scan.report.verdict(), v1::VERDICT_INSTALLED);
    const v1::Finding* f = FindFinding(scan.report, "acme");
    ASSERT_NE(f, nullptr) << FindingIds(scan.report);
    EXPECT_EQ(f->state(), v1::PRODUCT_STATE_INSTALLED);
    EXPECT_EQ(f->version(), "2.4.1");
    ASSERT_EQ(f->evidence_size(), 2) << f->DebugString();
    EXPECT_EQ(f->evidence(0).kind(), v1::EVIDENCE_KIND_DPKG_PACKAGE);
    EXPECT_EQ(f->evidence(0).strength(), v1::STRENGTH_STRONG);
    EXPECT_EQ(f->evidence(1).kind(), v1::EVIDENCE_KIND_PATH);
    EXPECT_EQ(f->evidence(1).path(), "/opt/acme-shared");
    EXPECT_EQ(f->evidence(1).strength(), v1::STRENGTH_WEAK);
  }

  // Removed, configuration left: the strong package says REMNANT; the weak path (an install folder, were it
  // strong) must not lift it back to INSTALLED.
  r = RunProcess({"/bin/sh", DebFixtureScript(), "dpkg", root, "-r", "acme-agent"});
  ASSERT_TRUE(r.Exited(0)) << r.Describe();
  {
    const AgentScan scan = ScanRoot(root, {"--rules", rules, "--fail-on-detect"});
    EXPECT_TRUE(scan.process.Exited(0)) << scan.process.Describe();
    ASSERT_TRUE(scan.parsed) << scan.parse_error;
    EXPECT_EQ(scan.report.verdict(), v1::VERDICT_REMNANT);
    const v1::Finding* f = FindFinding(scan.report, "acme");
    ASSERT_NE(f, nullptr) << FindingIds(scan.report);
    EXPECT_EQ(f->state(), v1::PRODUCT_STATE_REMNANT);
    EXPECT_EQ(f->evidence_size(), 2) << f->DebugString();
  }
}

// The built-in rules mark `redirfs`-style and shared identifiers weak; a root carrying only the init script `kics`
// (also the name of an unrelated open-source scanner) is clean.
TEST(AgentFilesTest, BuiltinWeakServiceAloneIsClean) {
  TempDir root("weak-builtin");
  WriteFile(root.Sub("etc/init.d/kics"), "#!/bin/sh\n# Checkmarx KICS runner, not Kaspersky\n", 0755);
  const AgentScan scan = ScanRoot(root.path(), {"--fail-on-detect"});
  ASSERT_TRUE(scan.process.Exited(0)) << scan.process.Describe();
  ASSERT_TRUE(scan.parsed) << scan.parse_error;
  EXPECT_EQ(scan.report.verdict(), v1::VERDICT_CLEAN) << FindingIds(scan.report);
  EXPECT_EQ(scan.report.findings_size(), 0);
  const v1::ProbeRun* services = FindProbe(scan.report, "services");
  ASSERT_NE(services, nullptr);
  EXPECT_EQ(services->state(), v1::PROBE_STATE_OK);
  EXPECT_GE(services->items(), 1);
}

}  // namespace
}  // namespace ksweep::test
