// `ksweep-agent scan --root` of Mac system roots made by tests/fixtures/macos/make_macos_root.py with real plists
// (Python's plistlib, XML and binary): Kaspersky installed, only its receipts left, UltraAV alone and next to
// Kaspersky leftovers, a clean Mac with look-alikes, and a Mac with corrupt plists. Rules: the tests' own macOS rules
// (tests/fixtures/macos/macos.rules.json), so that the probes are tested apart from the shipped rules' choices.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "agent/host_facts.h"
#include "tests/integration/test_util.h"

namespace ksweep::test {
namespace {

// The hardware UUID the fixture names its ByHost files with, as NormalizedGuid writes it.
constexpr std::string_view kHardwareUuid = "564d7a1e2b3c4d5e8f90a1b2c3d4e5f6";

class AgentMacosTest : public ::testing::Test {
 protected:
  // A fresh root of `scenario`; empty on failure (the test then fails with the script's error).
  std::string MakeRoot(const std::string& scenario) {
    roots_.push_back(std::make_unique<TempDir>("mac-" + scenario));
    const std::string dir = roots_.back()->path();
    const ProcessResult r = RunProcess({"python3", SourcePath("tests/fixtures/macos/make_macos_root.py"), scenario, dir},
                                       RunOptions::WithDeadline(std::chrono::minutes(1)));
    EXPECT_TRUE(r.Exited(0)) << "make_macos_root.py " << scenario << ": " << r.Describe();
    return r.Exited(0) ? dir : "";
  }

  static std::string Rules() { return SourcePath("tests/fixtures/macos/macos.rules.json"); }

  static AgentScan Scan(const std::string& root, std::vector<std::string> extra = {}) {
    extra.insert(extra.begin(), {"--rules", Rules()});
    return ScanRoot(root, extra);
  }

  static std::set<std::string> Names(const v1::Finding& f, v1::EvidenceKind kind) {
    std::set<std::string> out;
    for (const auto& e : f.evidence()) {
      if (e.kind() == kind) out.insert(e.name());
    }
    return out;
  }

  static std::set<std::string> Ids(const v1::HostReport& report) {
    std::set<std::string> out;
    for (const auto& f : report.findings()) out.insert(f.product_id());
    return out;
  }

  static void ExpectProbesOk(const v1::HostReport& report) {
    for (const char* name : {"paths", "app_bundles", "launchd_jobs", "package_receipts", "kernel_extensions"}) {
      const v1::ProbeRun* p = FindProbe(report, name);
      ASSERT_NE(p, nullptr) << name;
      EXPECT_EQ(p->state(), v1::PROBE_STATE_OK) << name << ": " << p->message();
    }
    EXPECT_FALSE(report.incomplete());
    // The Linux probes do not run on a Mac root.
    EXPECT_EQ(FindProbe(report, "dpkg"), nullptr);
  }

  std::vector<std::unique_ptr<TempDir>> roots_;
};

TEST_F(AgentMacosTest, KasperskyForMacIsInstalledWithEveryRecord) {
  const std::string root = MakeRoot("kaspersky");
  ASSERT_FALSE(root.empty());
  const AgentScan scan = Scan(root);
  ASSERT_TRUE(scan.process.Exited(0)) << scan.process.Describe();
  ASSERT_TRUE(scan.parsed) << scan.parse_error;
  const v1::HostReport& report = scan.report;
  ExpectProbesOk(report);
  EXPECT_EQ(report.warnings_size(), 0) << JoinWarnings(report);

  const v1::HostFacts& host = report.host();
  EXPECT_EQ(host.platform(), v1::PLATFORM_MACOS);
  EXPECT_EQ(host.os().id(), "macos");
  EXPECT_EQ(host.os().name(), "macOS");
  EXPECT_EQ(host.os().version_id(), "14.4.1");
  EXPECT_EQ(host.os().pretty_name(), "macOS 14.4.1 (23E224)");
  EXPECT_EQ(host.hostname(), "anna-mbp");  // LocalHostName: no HostName set, and ComputerName has spaces
  EXPECT_EQ(host.host_id(), agent::HostIdFromMachineId(std::string(kHardwareUuid)));

  EXPECT_EQ(report.verdict(), v1::VERDICT_INSTALLED);
  EXPECT_EQ(Ids(report), std::set<std::string>{"kaspersky-mac"});
  const v1::Finding* f = FindFinding(report, "kaspersky-mac");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->state(), v1::PRODUCT_STATE_INSTALLED);
  EXPECT_EQ(f->version(), "21.0.22.463");

  const v1::Evidence* app = FindEvidence(*f, v1::EVIDENCE_KIND_APP_BUNDLE);
  ASSERT_NE(app, nullptr) << f->DebugString();
  EXPECT_EQ(app->name(), "com.kaspersky.kav.gui");
  EXPECT_EQ(app->version(), "21.0.22.463");
  EXPECT_EQ(app->path(), "/Applications/Kaspersky Anti-Virus For Mac.app");
  EXPECT_EQ(app->publisher(), "Copyright 1997-2021 AO Kaspersky Lab. All Rights Reserved.");
  EXPECT_EQ(app->detail(),
            "app /Applications/Kaspersky Anti-Virus For Mac.app, com.kaspersky.kav.gui 21.0.22.463 (Info.plist, binary)");
  EXPECT_EQ(app->implies(), v1::PRODUCT_STATE_INSTALLED);

  EXPECT_EQ(Names(*f, v1::EVIDENCE_KIND_LAUNCHD_JOB), (std::set<std::string>{"com.kaspersky.kav", "com.kaspersky.kav.gui"}));
  for (const auto& e : f->evidence()) {
    if (e.kind() != v1::EVIDENCE_KIND_LAUNCHD_JOB || e.name() != "com.kaspersky.kav") continue;
    EXPECT_EQ(e.path(), "/Library/LaunchDaemons/com.kaspersky.kav.plist");
    EXPECT_NE(e.detail().find("launchd daemon com.kaspersky.kav"), std::string::npos) << e.detail();
    EXPECT_NE(e.detail().find("runs /Library/Application Support/Kaspersky Lab/KAV/Binaries/kav"), std::string::npos)
        << e.detail();
  }
  EXPECT_EQ(Names(*f, v1::EVIDENCE_KIND_KERNEL_EXTENSION), std::set<std::string>{"com.kaspersky.kext.klif"});
  EXPECT_EQ(Names(*f, v1::EVIDENCE_KIND_PACKAGE_RECEIPT),
            (std::set<std::string>{"com.kaspersky.kav.core", "com.kaspersky.kav.oas", "com.kaspersky.kav.webav"}));
  for (const auto& e : f->evidence()) {
    if (e.kind() != v1::EVIDENCE_KIND_PACKAGE_RECEIPT) continue;
    // /var is a link to private/var on a Mac, followed inside the root; the path is written as macOS writes it.
    EXPECT_EQ(e.path(), "/var/db/receipts/" + e.name() + ".plist");
    EXPECT_EQ(e.version(), "21.0.22.463");
    EXPECT_NE(e.detail().find("installed 2021-03-04T10:20:30Z"), std::string::npos) << e.detail();
    EXPECT_EQ(e.implies(), v1::PRODUCT_STATE_REMNANT);
  }
  const v1::Evidence* bin = FindEvidence(*f, v1::EVIDENCE_KIND_BINARY);
  ASSERT_NE(bin, nullptr) << f->DebugString();
  EXPECT_EQ(bin->sha256(), Sha256Sum(root + "/Library/Application Support/Kaspersky Lab/KAV/Binaries/kav"));

  // Apple's apps, Google's agent, Microsoft's receipt and SoftRAID's kext were read, and are nobody's evidence.
  EXPECT_EQ(FindProbe(report, "app_bundles")->items(), 3);  // Safari, Utilities/Terminal, Kaspersky
  EXPECT_EQ(FindProbe(report, "launchd_jobs")->items(), 3);
  EXPECT_EQ(FindProbe(report, "package_receipts")->items(), 5);
  EXPECT_EQ(FindProbe(report, "kernel_extensions")->items(), 2);

  const AgentScan gate = Scan(root, {"--fail-on-detect"});
  EXPECT_TRUE(gate.process.Exited(3)) << gate.process.Describe();
}

TEST_F(AgentMacosTest, NamesAreFoundWhateverTheirCase) {
  const std::string root = MakeRoot("kaspersky");
  ASSERT_FALSE(root.empty());
  // APFS compares names without case; a copy on a Linux filesystem keeps whatever case the files were written in.
  std::filesystem::rename(root + "/Library/LaunchDaemons", root + "/Library/launchdaemons");
  std::filesystem::rename(root + "/Applications", root + "/applications");
  const AgentScan scan = Scan(root);
  ASSERT_TRUE(scan.parsed) << scan.parse_error;
  const v1::Finding* f = FindFinding(scan.report, "kaspersky-mac");
  ASSERT_NE(f, nullptr) << FindingIds(scan.report);
  EXPECT_EQ(Names(*f, v1::EVIDENCE_KIND_LAUNCHD_JOB), (std::set<std::string>{"com.kaspersky.kav", "com.kaspersky.kav.gui"}));
  EXPECT_EQ(Names(*f, v1::EVIDENCE_KIND_APP_BUNDLE), std::set<std::string>{"com.kaspersky.kav.gui"});
}

TEST_F(AgentMacosTest, ReceiptsAloneAreARemnant) {
  const std::string root = MakeRoot("receipts-only");
  ASSERT_FALSE(root.empty());
  const AgentScan scan = Scan(root, {"--fail-on-detect"});
  EXPECT_TRUE(scan.process.Exited(0)) << scan.process.Describe();
  ASSERT_TRUE(scan.parsed) << scan.parse_error;
  ExpectProbesOk(scan.report);
  EXPECT_EQ(scan.report.verdict(), v1::VERDICT_REMNANT);
  EXPECT_EQ(Ids(scan.report), std::set<std::string>{"kaspersky-mac"});
  const v1::Finding* f = FindFinding(scan.report, "kaspersky-mac");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->state(), v1::PRODUCT_STATE_REMNANT);
  EXPECT_EQ(f->evidence_size(), 3) << f->DebugString();
  EXPECT_EQ(Names(*f, v1::EVIDENCE_KIND_PACKAGE_RECEIPT),
            (std::set<std::string>{"com.kaspersky.kav.core", "com.kaspersky.kav.oas", "com.kaspersky.kav.webav"}));
  // This Mac's SystemVersion.plist is binary and its preferences XML: the other way round from the others.
  EXPECT_EQ(scan.report.host().os().pretty_name(), "macOS 14.4.1 (23E224)");
  EXPECT_EQ(scan.report.host().hostname(), "anna-mbp");
}

TEST_F(AgentMacosTest, UltraAvAloneIsItsOwnProduct) {
  const std::string root = MakeRoot("ultraav");
  ASSERT_FALSE(root.empty());
  const AgentScan scan = Scan(root, {"--fail-on-detect"});
  EXPECT_TRUE(scan.process.Exited(3)) << scan.process.Describe();
  ASSERT_TRUE(scan.parsed) << scan.parse_error;
  EXPECT_EQ(Ids(scan.report), std::set<std::string>{"ultraav-mac"});
  const v1::Finding* f = FindFinding(scan.report, "ultraav-mac");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->state(), v1::PRODUCT_STATE_INSTALLED);
  EXPECT_EQ(f->version(), "1.2.3");
  EXPECT_EQ(f->note(), "");
  EXPECT_EQ(Names(*f, v1::EVIDENCE_KIND_APP_BUNDLE), std::set<std::string>{"com.pango.ultraav"});
}

TEST_F(AgentMacosTest, UltraAvBesideKasperskyLeftoversIsAMigration) {
  const std::string root = MakeRoot("ultraav-migrated");
  ASSERT_FALSE(root.empty());
  const AgentScan scan = Scan(root);
  ASSERT_TRUE(scan.parsed) << scan.parse_error;
  ExpectProbesOk(scan.report);
  EXPECT_EQ(scan.report.verdict(), v1::VERDICT_INSTALLED);
  EXPECT_EQ(Ids(scan.report), (std::set<std::string>{"kaspersky-mac", "ultraav-mac"}));
  const v1::Finding* ultra = FindFinding(scan.report, "ultraav-mac");
  ASSERT_NE(ultra, nullptr);
  EXPECT_EQ(ultra->state(), v1::PRODUCT_STATE_INSTALLED);
  EXPECT_EQ(ultra->note(), "migrated from Kaspersky");
  const v1::Finding* kav = FindFinding(scan.report, "kaspersky-mac");
  ASSERT_NE(kav, nullptr);
  EXPECT_EQ(kav->state(), v1::PRODUCT_STATE_REMNANT);
  const v1::Evidence* folder = FindEvidence(*kav, v1::EVIDENCE_KIND_PATH);
  ASSERT_NE(folder, nullptr) << kav->DebugString();
  EXPECT_EQ(folder->path(), "/Library/Application Support/Kaspersky Lab");
}

TEST_F(AgentMacosTest, CleanMacWithLookAlikesIsClean) {
  const std::string root = MakeRoot("clean");
  ASSERT_FALSE(root.empty());
  const AgentScan scan = Scan(root, {"--fail-on-detect"});
  EXPECT_TRUE(scan.process.Exited(0)) << scan.process.Describe();
  ASSERT_TRUE(scan.parsed) << scan.parse_error;
  ExpectProbesOk(scan.report);
  EXPECT_EQ(scan.report.verdict(), v1::VERDICT_CLEAN);
  EXPECT_EQ(scan.report.findings_size(), 0) << FindingIds(scan.report);
  EXPECT_EQ(scan.report.host().os().pretty_name(), "macOS 13.6.6 (22G630)");
  EXPECT_EQ(scan.report.host().hostname(), "build-mac-3");
  // Migrated from an older Mac: one ByHost file carries that Mac's UUID, five carry this one's.
  EXPECT_EQ(scan.report.host().host_id(), agent::HostIdFromMachineId(std::string(kHardwareUuid)));
  EXPECT_TRUE(AnyWarningContains(scan.report, "carry 2 hardware UUIDs")) << JoinWarnings(scan.report);
  // The look-alikes were read (the vendor folder's app included): they are clean because no rule names them.
  // AppleDouble files ("._x.plist") are skipped, hidden bundles are read.
  EXPECT_EQ(FindProbe(scan.report, "app_bundles")->items(), 5);
  EXPECT_EQ(FindProbe(scan.report, "launchd_jobs")->items(), 2);
  EXPECT_EQ(FindProbe(scan.report, "kernel_extensions")->items(), 3);
}

// The same clean Mac under rules that name the look-alikes: proof that the probes saw each of them, with the
// identifiers a person would check.
TEST_F(AgentMacosTest, LookAlikesAreSeenWhenARuleNamesThem) {
  const std::string root = MakeRoot("clean");
  ASSERT_FALSE(root.empty());
  TempDir rules_dir("mac-rules");
  const std::string rules = rules_dir.Sub("lookalikes.rules.json");
  WriteFile(rules, R"({"version": "lookalikes-1", "products": [{"id": "lookalikes", "name": "Look-alikes",
    "vendor": "Nobody", "platform": "PLATFORM_MACOS", "signals": [
    {"kind": "SIGNAL_KIND_APP_BUNDLE", "pattern": "*kaspersky*", "strength": "STRENGTH_STRONG", "confidence": "CONFIDENCE_INFERRED"},
    {"kind": "SIGNAL_KIND_LAUNCHD_JOB", "pattern": "com.kasperskyfans.*", "strength": "STRENGTH_STRONG", "confidence": "CONFIDENCE_INFERRED"},
    {"kind": "SIGNAL_KIND_PACKAGE_RECEIPT", "pattern": "com.kasperskyfans.*", "strength": "STRENGTH_STRONG", "confidence": "CONFIDENCE_INFERRED"},
    {"kind": "SIGNAL_KIND_KERNEL_EXTENSION", "pattern": "*kldisplay", "strength": "STRENGTH_STRONG", "confidence": "CONFIDENCE_INFERRED"},
    {"kind": "SIGNAL_KIND_KERNEL_EXTENSION", "pattern": "com.kasperskyfans.*", "strength": "STRENGTH_STRONG", "confidence": "CONFIDENCE_INFERRED"}]}]})");
  const AgentScan scan = ScanRoot(root, {"--rules", rules});
  ASSERT_TRUE(scan.parsed) << scan.parse_error;
  const v1::Finding* f = FindFinding(scan.report, "lookalikes");
  ASSERT_NE(f, nullptr) << FindingIds(scan.report);
  EXPECT_EQ(Names(*f, v1::EVIDENCE_KIND_APP_BUNDLE),
            (std::set<std::string>{"org.example.kasperskyremoval", "com.kasperskyfans.reader",
                                   "com.kasperskyfans.updater"}));
  EXPECT_EQ(Names(*f, v1::EVIDENCE_KIND_LAUNCHD_JOB), std::set<std::string>{"com.kasperskyfans.helper"});
  EXPECT_EQ(Names(*f, v1::EVIDENCE_KIND_PACKAGE_RECEIPT), std::set<std::string>{"com.kasperskyfans.helper"});
  EXPECT_EQ(Names(*f, v1::EVIDENCE_KIND_KERNEL_EXTENSION),
            (std::set<std::string>{"com.example.driver.kldisplay", "com.kasperskyfans.filter"}));
  for (const auto& e : f->evidence()) {
    if (e.name() == "com.kasperskyfans.filter") {
      EXPECT_EQ(e.detail().rfind("system extension /Library/SystemExtensions/", 0), 0u) << e.detail();
    }
    if (e.name() == "com.kasperskyfans.reader") {
      EXPECT_EQ(e.path(), "/Applications/Tools/KasperskyFans Reader.app");
    }
  }
}

TEST_F(AgentMacosTest, CorruptPlistsFailTheirProbeNamingTheFileAndTheScanGoesOn) {
  const std::string root = MakeRoot("corrupt");
  ASSERT_FALSE(root.empty());
  RunOptions options;
  options.deadline = std::chrono::seconds(30);  // a hang is a failure, reported, not waited out
  const AgentScan scan = ScanRoot(root, {"--rules", Rules(), "--fail-on-detect"}, options);
  ASSERT_TRUE(scan.process.Exited(3)) << scan.process.Describe();
  ASSERT_TRUE(scan.parsed) << scan.parse_error;
  const v1::HostReport& report = scan.report;
  EXPECT_TRUE(report.incomplete());

  // Kaspersky is still found from the files that could be read.
  const v1::Finding* f = FindFinding(report, "kaspersky-mac");
  ASSERT_NE(f, nullptr) << FindingIds(report);
  EXPECT_EQ(f->state(), v1::PRODUCT_STATE_INSTALLED);
  EXPECT_EQ(Names(*f, v1::EVIDENCE_KIND_LAUNCHD_JOB), (std::set<std::string>{"com.kaspersky.kav", "com.kaspersky.kav.gui"}));
  EXPECT_EQ(Names(*f, v1::EVIDENCE_KIND_KERNEL_EXTENSION), std::set<std::string>{"com.kaspersky.kext.klif"});
  EXPECT_EQ(Names(*f, v1::EVIDENCE_KIND_PACKAGE_RECEIPT).size(), 3u);

  const struct {
    const char* probe;
    std::vector<std::string> needles;  // each in the probe's message: the file and why
  } want[] = {
      {"app_bundles", {"1 of 4 files could not be read", "/Applications/Zero.app/Contents/Info.plist: empty file"}},
      {"launchd_jobs",
       {"2 of 5 files could not be read",
        "/Library/LaunchDaemons/com.example.truncated.plist: binary plist truncated",
        "/Library/LaunchAgents/com.example.notaplist.plist: not a property list: starts with 89 50 4e 47"}},
      {"package_receipts",
       {"/var/db/receipts/com.example.cyclic.plist: binary plist is corrupt", "cyclic offsets"}},
      {"kernel_extensions",
       {"/Library/Extensions/Bomb.kext/Contents/Info.plist: binary plist expands to more than 100000 values",
        "/Library/Extensions/Deep.kext/Contents/Info.plist: XML plist nests deeper than 64 levels"}},
  };
  for (const auto& w : want) {
    SCOPED_TRACE(w.probe);
    const v1::ProbeRun* p = FindProbe(report, w.probe);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->state(), v1::PROBE_STATE_FAILED);
    for (const auto& needle : w.needles) EXPECT_NE(p->message().find(needle), std::string::npos) << p->message();
    EXPECT_TRUE(AnyWarningContains(report, std::string("probe ") + w.probe + " failed, the scan is incomplete"))
        << JoinWarnings(report);
  }
  EXPECT_EQ(FindProbe(report, "paths")->state(), v1::PROBE_STATE_OK);
}

// The shipped rules (common/rules/kaspersky.rules.json, compiled in) on every scenario: exact products and states.
TEST_F(AgentMacosTest, ShippedRulesGiveEachScenarioItsProducts) {
  struct Want {
    std::string product;
    v1::ProductState state;
    std::string version;
    std::string note;
  };
  const struct {
    const char* scenario;
    v1::Verdict verdict;
    int exit_with_gate;
    bool incomplete;
    std::vector<Want> findings;
  } cases[] = {
      {"kaspersky", v1::VERDICT_INSTALLED, 3, false,
       {{"kaspersky-consumer", v1::PRODUCT_STATE_INSTALLED, "21.0.22.463", ""}}},
      {"receipts-only", v1::VERDICT_REMNANT, 0, false,
       {{"kaspersky-traces", v1::PRODUCT_STATE_REMNANT, "21.0.22.463", ""}}},
      {"ultraav", v1::VERDICT_INSTALLED, 3, false, {{"ultraav", v1::PRODUCT_STATE_INSTALLED, "1.2.3", ""}}},
      {"ultraav-migrated", v1::VERDICT_INSTALLED, 3, false,
       {{"ultraav", v1::PRODUCT_STATE_INSTALLED, "1.2.3", "migrated from Kaspersky"},
        {"kaspersky-traces", v1::PRODUCT_STATE_REMNANT, "21.0.22.463", ""}}},
      {"clean", v1::VERDICT_CLEAN, 0, false, {}},
      {"corrupt", v1::VERDICT_INSTALLED, 3, true,
       {{"kaspersky-consumer", v1::PRODUCT_STATE_INSTALLED, "21.0.22.463", ""}}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.scenario);
    const std::string root = MakeRoot(c.scenario);
    ASSERT_FALSE(root.empty());
    const AgentScan scan = ScanRoot(root, {"--fail-on-detect"});
    EXPECT_TRUE(scan.process.Exited(c.exit_with_gate)) << scan.process.Describe();
    ASSERT_TRUE(scan.parsed) << scan.parse_error;
    EXPECT_EQ(scan.report.verdict(), c.verdict);
    EXPECT_EQ(scan.report.incomplete(), c.incomplete);
    std::set<std::string> want_ids;
    for (const auto& w : c.findings) want_ids.insert(w.product);
    EXPECT_EQ(Ids(scan.report), want_ids);
    for (const auto& w : c.findings) {
      const v1::Finding* f = FindFinding(scan.report, w.product);
      ASSERT_NE(f, nullptr) << w.product;
      EXPECT_EQ(f->state(), w.state) << w.product;
      EXPECT_EQ(f->version(), w.version) << w.product;
      EXPECT_EQ(f->note(), w.note) << w.product;
    }
  }
}

// The legacy klif kext and the launchd jobs of the KAV line corroborate the app's finding instead of making a
// second, unidentified one.
TEST_F(AgentMacosTest, ShippedRulesPutTheKavLineRecordsUnderTheApp) {
  const std::string root = MakeRoot("kaspersky");
  ASSERT_FALSE(root.empty());
  const AgentScan scan = ScanRoot(root);
  ASSERT_TRUE(scan.parsed) << scan.parse_error;
  const v1::Finding* f = FindFinding(scan.report, "kaspersky-consumer");
  ASSERT_NE(f, nullptr) << FindingIds(scan.report);
  EXPECT_EQ(Names(*f, v1::EVIDENCE_KIND_APP_BUNDLE), std::set<std::string>{"com.kaspersky.kav.gui"});
  EXPECT_EQ(Names(*f, v1::EVIDENCE_KIND_LAUNCHD_JOB), (std::set<std::string>{"com.kaspersky.kav", "com.kaspersky.kav.gui"}));
  EXPECT_EQ(Names(*f, v1::EVIDENCE_KIND_KERNEL_EXTENSION), std::set<std::string>{"com.kaspersky.kext.klif"});
  for (const auto& e : f->evidence()) {
    if (e.kind() == v1::EVIDENCE_KIND_KERNEL_EXTENSION || e.kind() == v1::EVIDENCE_KIND_LAUNCHD_JOB) {
      EXPECT_EQ(e.strength(), v1::STRENGTH_WEAK) << e.name();
    }
  }
  // Alone (the app gone), the kext is still Kaspersky's: the catch-all reports it.
  std::filesystem::remove_all(root + "/Applications/Kaspersky Anti-Virus For Mac.app");
  std::filesystem::remove_all(root + "/Library/Application Support/Kaspersky Lab");
  const AgentScan after = ScanRoot(root);
  ASSERT_TRUE(after.parsed) << after.parse_error;
  EXPECT_EQ(FindFinding(after.report, "kaspersky-consumer"), nullptr) << FindingIds(after.report);
  const v1::Finding* other = FindFinding(after.report, "kaspersky-other");
  ASSERT_NE(other, nullptr) << FindingIds(after.report);
  EXPECT_EQ(Names(*other, v1::EVIDENCE_KIND_KERNEL_EXTENSION), std::set<std::string>{"com.kaspersky.kext.klif"});
}

TEST_F(AgentMacosTest, UnreadableSystemVersionIsAWarningNotAFailure) {
  const std::string root = MakeRoot("receipts-only");
  ASSERT_FALSE(root.empty());
  WriteFile(root + "/System/Library/CoreServices/SystemVersion.plist", "bplist00");
  const AgentScan scan = Scan(root);
  ASSERT_TRUE(scan.parsed) << scan.parse_error;
  EXPECT_EQ(scan.report.host().platform(), v1::PLATFORM_MACOS);  // the file is there: this is a Mac
  EXPECT_EQ(scan.report.host().os().pretty_name(), "");
  EXPECT_TRUE(AnyWarningContains(scan.report,
                                 "OS version unknown: /System/Library/CoreServices/SystemVersion.plist: binary plist "
                                 "truncated"))
      << JoinWarnings(scan.report);
  EXPECT_EQ(scan.report.verdict(), v1::VERDICT_REMNANT);
}

TEST_F(AgentMacosTest, WithoutByHostFilesTheHostIdFallsBackToTheHostnameWithAWarning) {
  const std::string root = MakeRoot("receipts-only");
  ASSERT_FALSE(root.empty());
  std::filesystem::remove_all(root + "/Library/Preferences/ByHost");
  std::filesystem::remove_all(root + "/Users");
  const AgentScan scan = Scan(root);
  ASSERT_TRUE(scan.parsed) << scan.parse_error;
  EXPECT_EQ(scan.report.host().host_id(), agent::HostIdFromMachineId("hostname:anna-mbp"));
  EXPECT_TRUE(AnyWarningContains(scan.report, "no hardware UUID in the ByHost preference files"))
      << JoinWarnings(scan.report);
}

}  // namespace
}  // namespace ksweep::test
