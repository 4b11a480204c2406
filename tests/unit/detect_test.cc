#include "agent/detect.h"

#include <gtest/gtest.h>

#include "common/rules.h"

namespace ksweep::agent {
namespace {

class DetectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = BuiltinRules();
    ASSERT_TRUE(r.ok()) << r.status().message();
    rules_ = *r;
  }

  // What every observation carries; the builders below add what their kind has.
  static Observation Observed(ObservationKind kind, v1::EvidenceKind evidence_kind, const std::string& name,
                              const std::string& path) {
    Observation o;
    o.kind = kind;
    o.evidence_kind = evidence_kind;
    o.name = name;
    o.path = path;
    return o;
  }
  static Observation Package(const std::string& name, const std::string& version, PackageState state,
                             const std::string& vendor = "") {
    Observation o = Observed(ObservationKind::kPackage, v1::EVIDENCE_KIND_DPKG_PACKAGE, name, "/var/lib/dpkg/status");
    o.version = version;
    o.vendor = vendor;
    o.package_state = state;
    o.detail = "dpkg package " + name;
    return o;
  }
  static Observation Path(const std::string& path, bool is_dir) {
    Observation o = Observed(ObservationKind::kPath, v1::EVIDENCE_KIND_PATH, path, path);
    o.is_dir = is_dir;
    return o;
  }
  static Observation Process(const std::string& comm, int pid, const std::string& exe = "") {
    Observation o =
        Observed(ObservationKind::kProcess, v1::EVIDENCE_KIND_PROCESS, comm, "/proc/" + std::to_string(pid));
    o.pid = pid;
    o.exe = exe;
    return o;
  }
  static Observation Module(const std::string& name) {
    return Observed(ObservationKind::kKernelModule, v1::EVIDENCE_KIND_KERNEL_MODULE, name, "/proc/modules");
  }
  static Observation Service(const std::string& name, bool active) {
    Observation o = Observed(ObservationKind::kService, v1::EVIDENCE_KIND_SERVICE, name, "/lib/systemd/system/" + name);
    o.active = active;
    return o;
  }

  static std::vector<v1::Finding> DetectLinux(const v1::RuleSet& rules, const Observations& obs, bool live) {
    return Detect(rules, obs, live, v1::PLATFORM_LINUX);
  }

  const v1::Finding* Find(const std::vector<v1::Finding>& findings, const std::string& id) {
    for (const auto& f : findings) {
      if (f.product_id() == id) return &f;
    }
    return nullptr;
  }

  v1::RuleSet rules_;
};

TEST_F(DetectTest, NothingOnACleanHost) {
  const Observations obs = {Package("bash", "5.2", PackageState::kInstalled, "Debian <x@debian.org>"),
                            Path("/usr/bin", true), Process("sshd", 10), Module("ext4")};
  const auto findings = DetectLinux(rules_, obs, /*live=*/true);
  EXPECT_TRUE(findings.empty());
  EXPECT_EQ(VerdictOf(findings), v1::VERDICT_CLEAN);
}

TEST_F(DetectTest, InstalledPackageGivesVersionAndEvidence) {
  const Observations obs = {Package("kesl", "12.1.0.1234", PackageState::kInstalled),
                            Path("/opt/kaspersky/kesl", true), Path("/opt/kaspersky", true)};
  const auto findings = DetectLinux(rules_, obs, false);
  ASSERT_EQ(findings.size(), 1u);  // the fallback "traces" product stays quiet when a product is found
  EXPECT_EQ(findings[0].product_id(), "kesl");
  EXPECT_EQ(findings[0].state(), v1::PRODUCT_STATE_INSTALLED);
  EXPECT_EQ(findings[0].version(), "12.1.0.1234");
  EXPECT_FALSE(findings[0].broken());
  ASSERT_EQ(findings[0].evidence_size(), 2);
  EXPECT_EQ(findings[0].evidence(0).kind(), v1::EVIDENCE_KIND_DPKG_PACKAGE);
  EXPECT_EQ(VerdictOf(findings), v1::VERDICT_INSTALLED);
}

TEST_F(DetectTest, ConfigFilesPackageCapsFileEvidenceAtRemnant) {
  // After `dpkg -r`, conffiles stay; they must not turn a removed product back into an installed one.
  const Observations obs = {Package("kesl", "12.1.0.1234", PackageState::kConfigFiles),
                            Path("/opt/kaspersky/kesl", true)};
  const auto findings = DetectLinux(rules_, obs, false);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].state(), v1::PRODUCT_STATE_REMNANT);
  EXPECT_EQ(VerdictOf(findings), v1::VERDICT_REMNANT);
}

TEST_F(DetectTest, BrokenPackageIsInstalledAndSaysSo) {
  const auto findings = DetectLinux(rules_, {Package("kess", "3.3", PackageState::kBroken)}, false);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].state(), v1::PRODUCT_STATE_INSTALLED);
  EXPECT_TRUE(findings[0].broken());
}

TEST_F(DetectTest, WeakSignalsAloneNeverFlag) {
  const auto findings = DetectLinux(rules_, {Module("redirfs"), Module("avflt"), Process("wdserver", 5)}, true);
  EXPECT_TRUE(findings.empty());
}

TEST_F(DetectTest, WeakSignalsCorroborateButDoNotRaiseTheState) {
  const auto findings =
      DetectLinux(rules_, {Package("kav4fs", "8.0.4", PackageState::kConfigFiles), Module("redirfs")}, true);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].state(), v1::PRODUCT_STATE_REMNANT);
  ASSERT_EQ(findings[0].evidence_size(), 2);
  EXPECT_EQ(findings[0].evidence(1).strength(), v1::STRENGTH_WEAK);
}

TEST_F(DetectTest, RuntimeEvidenceOnlyOnTheLiveRoot) {
  const Observations obs = {Package("kesl", "12", PackageState::kInstalled), Process("kesl", 4242),
                            Service("kesl.service", true)};
  auto live = DetectLinux(rules_, obs, true);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].state(), v1::PRODUCT_STATE_RUNNING);
  bool has_pid = false;
  for (const auto& e : live[0].evidence()) has_pid = has_pid || e.pid() == 4242;
  EXPECT_TRUE(has_pid);
  EXPECT_EQ(VerdictOf(live), v1::VERDICT_RUNNING);

  auto image = DetectLinux(rules_, obs, false);
  ASSERT_EQ(image.size(), 1u);
  EXPECT_EQ(image[0].state(), v1::PRODUCT_STATE_INSTALLED);
}

TEST_F(DetectTest, ProcessAloneIsRunningEvenWithoutPackage) {
  const auto findings = DetectLinux(rules_, {Process("klnagent", 77, "/opt/kaspersky/klnagent64/sbin/klnagent")}, true);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].product_id(), "klnagent");
  EXPECT_EQ(findings[0].state(), v1::PRODUCT_STATE_RUNNING);
}

TEST_F(DetectTest, SysVScriptAndUnitNamesAreOneService) {
  auto findings = DetectLinux(rules_, {Service("kesl", false)}, false);  // /etc/init.d/kesl
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].product_id(), "kesl");
  findings = DetectLinux(rules_, {Service("klnagent64.service", false)}, false);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].product_id(), "klnagent");
}

TEST_F(DetectTest, CatchAllSeesOnlyUnclaimedPackages) {
  const std::string kl = "Kaspersky Lab <support@kaspersky.com>";
  auto findings = DetectLinux(rules_, {Package("kesl", "12", PackageState::kInstalled, kl)}, false);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].product_id(), "kesl");

  findings = DetectLinux(rules_, {Package("kfuture-product", "1", PackageState::kInstalled, kl)}, false);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].product_id(), "kaspersky-package");
  EXPECT_EQ(findings[0].evidence(0).confidence(), v1::CONFIDENCE_INFERRED);
}

TEST_F(DetectTest, FallbackOnlyWhenNothingElse) {
  auto findings = DetectLinux(rules_, {Path("/opt/kaspersky", true), Path("/var/log/kaspersky", true)}, false);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].product_id(), "kaspersky-traces");
  EXPECT_EQ(findings[0].state(), v1::PRODUCT_STATE_REMNANT);
}

TEST_F(DetectTest, BinaryRuleIgnoresAFolderOfTheSameName) {
  Observation dir = Path("/opt/kaspersky/ScanEngine/bin/kavhttpd", true);
  auto findings = DetectLinux(rules_, {dir}, false);
  EXPECT_TRUE(findings.empty());
  Observation file = Path("/opt/kaspersky/ScanEngine/bin/kavhttpd", false);
  file.sha256 = std::string(64, 'a');
  findings = DetectLinux(rules_, {file}, false);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].product_id(), "scanengine");
  EXPECT_EQ(findings[0].evidence(0).sha256(), std::string(64, 'a'));
}

TEST_F(DetectTest, FindingsSortedStrongestFirst) {
  const auto findings = DetectLinux(rules_,
                               {Package("klnagent64", "15", PackageState::kConfigFiles),
                                Package("kesl", "12", PackageState::kInstalled), Process("kavhttpd", 9)},
                               true);
  ASSERT_EQ(findings.size(), 3u);
  EXPECT_EQ(findings[0].state(), v1::PRODUCT_STATE_RUNNING);
  EXPECT_EQ(findings[1].state(), v1::PRODUCT_STATE_INSTALLED);
  EXPECT_EQ(findings[2].state(), v1::PRODUCT_STATE_REMNANT);
}


// Windows and macOS records, as the hive and plist probes describe them.
Observation Record(ObservationKind kind, v1::EvidenceKind evidence, const std::string& name,
                   const std::string& vendor = "", const std::string& image = "", const std::string& version = "") {
  Observation o;
  o.kind = kind;
  o.evidence_kind = evidence;
  o.name = name;
  o.path = "HKLM\\SOFTWARE\\...\\" + name;
  o.vendor = vendor;
  o.image = image;
  o.version = version;
  return o;
}
Observation Program(const std::string& display_name, const std::string& publisher, const std::string& version = "") {
  return Record(ObservationKind::kInstalledProgram, v1::EVIDENCE_KIND_INSTALLED_PROGRAM, display_name, publisher, "",
                version);
}
Observation Driver(const std::string& name, const std::string& company, const std::string& image) {
  return Record(ObservationKind::kWindowsDriver, v1::EVIDENCE_KIND_WINDOWS_DRIVER, name, company, image);
}
Observation WinService(const std::string& name, const std::string& image) {
  return Record(ObservationKind::kWindowsService, v1::EVIDENCE_KIND_WINDOWS_SERVICE, name, "", image);
}
Observation Key(const std::string& key) {
  return Record(ObservationKind::kRegistryKey, v1::EVIDENCE_KIND_REGISTRY_KEY, key);
}

std::vector<v1::Finding> DetectWindows(const v1::RuleSet& rules, const Observations& obs) {
  return Detect(rules, obs, false, v1::PLATFORM_WINDOWS);
}

TEST_F(DetectTest, WindowsKesFromItsUninstallEntryServiceAndDrivers) {
  const auto findings = DetectWindows(
      rules_, {Program("Kaspersky Endpoint Security for Windows", "AO Kaspersky Lab", "11.11.0.452"),
               WinService("AVP21.3", "\"C:\\Program Files (x86)\\Kaspersky Lab\\Kaspersky Endpoint Security for "
                                     "Windows\\avp.exe\" -r"),
               Driver("klif", "AO Kaspersky Lab", "\\SystemRoot\\System32\\DRIVERS\\klif.sys"),
               Key("HKLM\\SOFTWARE\\WOW6432Node\\KasperskyLab")});
  ASSERT_EQ(findings.size(), 1u) << findings[1].product_id();
  EXPECT_EQ(findings[0].product_id(), "kes");
  EXPECT_EQ(findings[0].state(), v1::PRODUCT_STATE_INSTALLED);
  EXPECT_EQ(findings[0].version(), "11.11.0.452");
  ASSERT_GE(findings[0].evidence_size(), 3);
  EXPECT_EQ(findings[0].evidence(0).name(), "Kaspersky Endpoint Security for Windows");
  EXPECT_EQ(findings[0].evidence(0).publisher(), "AO Kaspersky Lab");
}

TEST_F(DetectTest, WindowsNamesCompareWithoutCase) {
  const auto findings = DetectWindows(rules_, {WinService("KLNAGENT", "C:\\x\\klnagent.exe")});
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].product_id(), "klnagent");
}

TEST_F(DetectTest, AKlDriverOfAnotherCompanyIsNotKaspersky) {
  EXPECT_TRUE(DetectWindows(rules_, {Driver("kldrv", "Klein Systems GmbH",
                                            "\\SystemRoot\\System32\\drivers\\kldrv.sys")})
                  .empty());
  // The same name with Kaspersky's company, or under a Kaspersky folder, is.
  auto findings = DetectWindows(rules_, {Driver("klhk", "AO Kaspersky Lab", "\\SystemRoot\\System32\\drivers\\klhk.sys")});
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].product_id(), "kaspersky-other");
  findings = DetectWindows(
      rules_, {Driver("klids", "", "\\??\\C:\\ProgramData\\Kaspersky Lab\\AVP21.25\\Bases\\klids.sys")});
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].product_id(), "kaspersky-other");
}

TEST_F(DetectTest, AKasperskyLikeNameFromAnotherPublisherIsNotKaspersky) {
  EXPECT_TRUE(DetectWindows(rules_, {Program("Kaspersky Cleaner Helper", "Contoso Utilities")}).empty());
  // A product's name with more after it needs Kaspersky's publisher; the exact name does not.
  EXPECT_TRUE(DetectWindows(rules_, {Program("Kaspersky Total Security Cleaner", "Contoso Utilities")}).empty());
  auto versioned = DetectWindows(rules_, {Program("Kaspersky Total Security 21.3", "AO Kaspersky Lab", "21.3")});
  ASSERT_EQ(versioned.size(), 1u);
  EXPECT_EQ(versioned[0].product_id(), "kaspersky-consumer");
  auto exact = DetectWindows(rules_, {Program("Kaspersky Total Security", "")});
  ASSERT_EQ(exact.size(), 1u);
  EXPECT_EQ(exact[0].product_id(), "kaspersky-consumer");
  const auto findings = DetectWindows(rules_, {Program("Kaspersky Password Manager", "AO Kaspersky Lab", "9.0")});
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].product_id(), "kaspersky-other");
  EXPECT_EQ(findings[0].version(), "9.0");
}

TEST_F(DetectTest, LeftoversAloneAreARemnant) {
  const auto findings = DetectWindows(rules_, {Key("HKLM\\SOFTWARE\\KasperskyLab"), Path("/ProgramData/Kaspersky Lab", true)});
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].product_id(), "kaspersky-traces");
  EXPECT_EQ(findings[0].state(), v1::PRODUCT_STATE_REMNANT);
}

TEST_F(DetectTest, UltraAvBesideKasperskyLeftoversSaysMigrated) {
  const auto findings =
      DetectWindows(rules_, {Program("UltraAV", "Pango", "1.0"), Key("HKLM\\SOFTWARE\\WOW6432Node\\KasperskyLab")});
  ASSERT_EQ(findings.size(), 2u);
  const v1::Finding* ultra = Find(findings, "ultraav");
  ASSERT_NE(ultra, nullptr);
  EXPECT_EQ(ultra->state(), v1::PRODUCT_STATE_INSTALLED);
  EXPECT_EQ(ultra->note(), "migrated from Kaspersky");
  const v1::Finding* traces = Find(findings, "kaspersky-traces");
  ASSERT_NE(traces, nullptr);
  EXPECT_EQ(traces->state(), v1::PRODUCT_STATE_REMNANT);
  // UltraAV alone is a product with a state of its own, and no note.
  const auto alone = DetectWindows(rules_, {Program("UltraAV", "Pango")});
  ASSERT_EQ(alone.size(), 1u);
  EXPECT_TRUE(alone[0].note().empty());
}

TEST_F(DetectTest, RulesOfOnePlatformNeverMatchAnother) {
  // /opt/kaspersky on a Windows disk is not KESL, and an Uninstall entry means nothing on Linux.
  EXPECT_TRUE(DetectWindows(rules_, {Path("/opt/kaspersky/kesl", true)}).empty());
  EXPECT_TRUE(DetectLinux(rules_, {Program("Kaspersky Endpoint Security for Windows", "AO Kaspersky Lab")}, false).empty());
}

TEST_F(DetectTest, MacAppBundleGivesTheVersion) {
  Observation app = Record(ObservationKind::kAppBundle, v1::EVIDENCE_KIND_APP_BUNDLE, "com.kaspersky.kes", "",
                           "/Applications/Kaspersky Endpoint Security for Mac.app", "11.3.0");
  Observation job = Record(ObservationKind::kLaunchdJob, v1::EVIDENCE_KIND_LAUNCHD_JOB, "com.kaspersky.kav");
  const auto findings = Detect(rules_, {app, job}, false, v1::PLATFORM_MACOS);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].product_id(), "kes");
  EXPECT_EQ(findings[0].version(), "11.3.0");
  EXPECT_EQ(findings[0].evidence_size(), 2);
  // A near miss of the reverse-DNS prefix is someone else's.
  Observation near = Record(ObservationKind::kLaunchdJob, v1::EVIDENCE_KIND_LAUNCHD_JOB, "com.kasperskyfans.helper");
  EXPECT_TRUE(Detect(rules_, {near}, false, v1::PLATFORM_MACOS).empty());
}

}  // namespace
}  // namespace ksweep::agent
