// `ksweep-agent scan --root` over Windows system roots the tests build with the real formats (windows_fixture.h):
// hives written by hivexregedit, driver and service images whose version resource windres and ld made, folders in
// whatever case. The built-in rules decide. Each scenario's products and states are exact, decoys are never
// flagged, --fail-on-detect says 3 only where something is installed, and damaged hives fail their probe with the
// file and the reason while the rest of the scan stands.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>

#include "agent/host_facts.h"
#include "tests/integration/test_util.h"
#include "tests/integration/windows_fixture.h"

namespace ksweep::test {
namespace {

namespace fs = std::filesystem;

constexpr char kKesDir[] = "/Program Files (x86)/Kaspersky Lab/Kaspersky Endpoint Security for Windows";
constexpr char kKesUninstallKey[] =
    "HKLM\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\{9A017442-D5E1-4F8B-8F3B-4B8C3C9E2A11}";
constexpr char kSoftwareFile[] = "/Windows/System32/config/SOFTWARE";
constexpr char kSystemFile[] = "/Windows/System32/config/SYSTEM";

// product id -> state, for exact comparisons.
std::map<std::string, v1::ProductState> States(const v1::HostReport& report) {
  std::map<std::string, v1::ProductState> out;
  for (const auto& f : report.findings()) out[f.product_id()] = f.state();
  return out;
}

const v1::Evidence* EvidenceNamed(const v1::Finding& f, v1::EvidenceKind kind, std::string_view name) {
  for (const auto& e : f.evidence()) {
    if (e.kind() == kind && e.name() == name) return &e;
  }
  return nullptr;
}

class AgentWindowsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    images_ = std::make_unique<TempDir>("win-images");
    try {
      const std::string kes = "Kaspersky Endpoint Security for Windows";
      WritePeImage(Image("klif.sys"), {"AO Kaspersky Lab", "21.3.10.391", "Klif Mini-Filter", kes});
      WritePeImage(Image("klflt.sys"), {"AO Kaspersky Lab", "21.3.10.391", "Kaspersky Lab Kernel Driver", kes});
      WritePeImage(Image("klhk.sys"), {"AO Kaspersky Lab", "21.3.10.391", "Kaspersky Lab hypervisor", kes});
      WritePeImage(Image("avp.exe"), {"AO Kaspersky Lab", "21.3.10.391", "Kaspersky Endpoint Security Service",
                                      kes, /*pe32=*/true});
      WritePeImage(Image("klnagent.exe"), {"AO Kaspersky Lab", "14.0.0.10902", "Network Agent",
                                           "Kaspersky Security Center Network Agent", true});
      WritePeImage(Image("kavfs.exe"), {"AO Kaspersky Lab", "11.0.1.897", "Kaspersky Security Service",
                                        "Kaspersky Security for Windows Server", true});
      WritePeImage(Image("consumer-avp.exe"),
                   {"AO Kaspersky Lab", "21.3.10.391", "Kaspersky Anti-Virus Service", "Kaspersky Total Security",
                    true});
      WritePeImage(Image("kldrv.sys"), {"Klein Systems GmbH", "2.4.0.17", "Klein Data Logger Driver", "KL Logger"});
      WritePeImage(Image("pwdhelper.exe"), {"Helper Tools Ltd", "3.1.0.0", "Password Helper", "Password Helper"});
    } catch (const std::exception& e) {
      build_error_ = e.what();
    }
  }
  static void TearDownTestSuite() { images_.reset(); }
  void SetUp() override { ASSERT_EQ(build_error_, ""); }

  static std::string Image(const std::string& name) { return images_->Sub(name); }

  // KES for Windows 11.11 as it lies on a 64-bit Windows 10: the 32-bit Uninstall view, the AVP21.3 service in the
  // Program Files (x86) folder, the klif/klflt/klhk drivers, KasperskyLab keys, data under ProgramData.
  void AddKes(WindowsRoot& win) {
    win.Uninstall("{9A017442-D5E1-4F8B-8F3B-4B8C3C9E2A11}", "Kaspersky Endpoint Security for Windows",
                  "11.11.0.452", "AO Kaspersky Lab",
                  "C:\\Program Files (x86)\\Kaspersky Lab\\Kaspersky Endpoint Security for Windows\\", true);
    win.Service("AVP21.3", kOwnProcess, kStartAuto,
                "\"C:\\Program Files (x86)\\Kaspersky Lab\\Kaspersky Endpoint Security for Windows\\avp.exe\" -r",
                "Kaspersky Endpoint Security Service");
    win.Service("klif", kFileSystemDriver, kStartBoot, "\\SystemRoot\\System32\\DRIVERS\\klif.sys",
                "Kaspersky Lab KLIF");
    win.Service("klflt", kFileSystemDriver, kStartSystem, "System32\\drivers\\klflt.sys");
    win.Service("klhk", kKernelDriver, kStartBoot, "\\??\\C:\\Windows\\system32\\drivers\\klhk.sys");
    win.software().Key("WOW6432Node\\KasperskyLab\\protected\\AVP21.3", {RegValue::Sz("Ins_InitMode", "1")});
    win.CopyImage(Image("klif.sys"), "/Windows/System32/drivers/klif.sys");
    win.CopyImage(Image("klflt.sys"), "/Windows/System32/drivers/klflt.sys");
    win.CopyImage(Image("klhk.sys"), "/Windows/System32/drivers/klhk.sys");
    // Restored from a backup: the folders came back in lower case.
    win.CopyImage(Image("avp.exe"),
                  "/program files (x86)/kaspersky lab/Kaspersky Endpoint Security for Windows/avp.exe");
    win.File("/program files (x86)/kaspersky lab/Kaspersky Endpoint Security for Windows/avpui.exe", "MZ avpui");
    win.Dir("/programdata/kaspersky lab/AVP21.3/Bases");
  }

  static AgentScan Scan(const WindowsRoot& win, const std::vector<std::string>& extra = {}) {
    AgentScan scan = ScanRoot(win.path(), extra, RunOptions::WithDeadline(std::chrono::seconds(60)));
    EXPECT_TRUE(scan.parsed) << scan.parse_error;
    return scan;
  }

  // The exit code of --fail-on-detect.
  static int FailOnDetect(const WindowsRoot& win) {
    const ProcessResult r = RunProcess({AgentBinary(), "scan", "--root", win.path(), "--fail-on-detect"},
                                       RunOptions::WithDeadline(std::chrono::seconds(60)));
    return r.timed_out || r.signal != 0 ? -1 : r.exit_code;
  }

  static void ExpectAllProbesOk(const v1::HostReport& report) {
    EXPECT_FALSE(report.incomplete());
    for (const auto& p : report.probes()) EXPECT_EQ(p.state(), v1::PROBE_STATE_OK) << p.name() << ": " << p.message();
    for (const char* name : {"paths", "installed_programs", "registry_keys", "windows_services"}) {
      EXPECT_NE(FindProbe(report, name), nullptr) << name;
    }
  }

  static std::unique_ptr<TempDir> images_;
  static std::string build_error_;
  TempDir dir_{"win-root"};
};

std::unique_ptr<TempDir> AgentWindowsTest::images_;
std::string AgentWindowsTest::build_error_;

TEST_F(AgentWindowsTest, KesForWindowsIsInstalledWithItsEvidence) {
  WindowsRoot win(dir_.Sub("kes"), "WIN-KES01", "{4C4C4544-0042-3510-8052-B4C04F4E4D32}");
  AddKes(win);
  win.Write();
  // The system folders in the case a restored copy may have.
  fs::rename(win.path() + "/Windows", win.path() + "/WINDOWS");
  fs::rename(win.path() + "/WINDOWS/System32", win.path() + "/WINDOWS/system32");

  const AgentScan scan = Scan(win);
  ASSERT_TRUE(scan.process.Exited(0)) << scan.process.Describe();
  const v1::HostReport& r = scan.report;
  EXPECT_EQ(r.host().platform(), v1::PLATFORM_WINDOWS);
  ExpectAllProbesOk(r);
  EXPECT_EQ(States(r), (std::map<std::string, v1::ProductState>{{"kes", v1::PRODUCT_STATE_INSTALLED}}))
      << FindingIds(r);
  EXPECT_EQ(r.verdict(), v1::VERDICT_INSTALLED);
  const v1::Finding* kes = FindFinding(r, "kes");
  ASSERT_NE(kes, nullptr);
  EXPECT_EQ(kes->version(), "11.11.0.452");

  const v1::Evidence* program =
      EvidenceNamed(*kes, v1::EVIDENCE_KIND_INSTALLED_PROGRAM, "Kaspersky Endpoint Security for Windows");
  ASSERT_NE(program, nullptr) << kes->DebugString();
  EXPECT_EQ(program->path(), kKesUninstallKey);
  EXPECT_EQ(program->detail(), std::string("Uninstall entry ") + kKesUninstallKey +
                                   ": 'Kaspersky Endpoint Security for Windows' 11.11.0.452, publisher "
                                   "'AO Kaspersky Lab' (32-bit view)");
  EXPECT_EQ(program->version(), "11.11.0.452");
  EXPECT_EQ(program->publisher(), "AO Kaspersky Lab");
  EXPECT_EQ(program->strength(), v1::STRENGTH_STRONG);

  const v1::Evidence* service = EvidenceNamed(*kes, v1::EVIDENCE_KIND_WINDOWS_SERVICE, "AVP21.3");
  ASSERT_NE(service, nullptr) << kes->DebugString();
  EXPECT_EQ(service->path(), "HKLM\\SYSTEM\\CurrentControlSet\\Services\\AVP21.3");
  EXPECT_EQ(service->publisher(), "AO Kaspersky Lab");  // from avp.exe's version resource
  EXPECT_EQ(service->version(), "21.3.10.391");
  EXPECT_NE(service->detail().find("service AVP21.3 'Kaspersky Endpoint Security Service' (Start 2 auto)"),
            std::string::npos)
      << service->detail();

  // Each driver, its image found from each ImagePath form, its company read from the image.
  for (const char* name : {"klif", "klflt", "klhk"}) {
    const v1::Evidence* driver = EvidenceNamed(*kes, v1::EVIDENCE_KIND_WINDOWS_DRIVER, name);
    ASSERT_NE(driver, nullptr) << name << " " << kes->DebugString();
    EXPECT_EQ(driver->publisher(), "AO Kaspersky Lab") << name;
    EXPECT_EQ(driver->version(), "21.3.10.391") << name;
    EXPECT_EQ(driver->strength(), v1::STRENGTH_WEAK) << name;
  }
  EXPECT_EQ(EvidenceNamed(*kes, v1::EVIDENCE_KIND_WINDOWS_DRIVER, "klif")->detail(),
            "driver klif 'Kaspersky Lab KLIF' (Start 0 boot), image \\SystemRoot\\System32\\DRIVERS\\klif.sys, "
            "company 'AO Kaspersky Lab', version 21.3.10.391");

  // The rule's folder and binary, found in the lower-case copy.
  const v1::Evidence* binary = FindEvidence(*kes, v1::EVIDENCE_KIND_BINARY);
  ASSERT_NE(binary, nullptr) << kes->DebugString();
  EXPECT_EQ(binary->path(),
            "C:\\Program Files (x86)\\Kaspersky Lab\\Kaspersky Endpoint Security for Windows\\avpui.exe");
  EXPECT_EQ(binary->sha256(),
            Sha256Sum(win.path() + "/program files (x86)/kaspersky lab/Kaspersky Endpoint Security for Windows/"
                                   "avpui.exe"));

  // Host facts from the hives.
  EXPECT_EQ(r.host().hostname(), "WIN-KES01");
  EXPECT_EQ(r.host().os().id(), "windows");
  EXPECT_EQ(r.host().os().name(), "Windows 10 Pro");
  EXPECT_EQ(r.host().os().version_id(), "19045");
  EXPECT_EQ(r.host().os().pretty_name(), "Windows 10 Pro 22H2 (build 19045.3803)");
  EXPECT_EQ(r.host().kernel(), "10.0.19045.3803");
  EXPECT_EQ(r.host().arch(), "x86_64");
  EXPECT_EQ(r.host().host_id(), agent::HostIdFromMachineId("4c4c4544004235108052b4c04f4e4d32"));
  EXPECT_FALSE(AnyWarningContains(r, "MachineGuid")) << JoinWarnings(r);

  EXPECT_EQ(FailOnDetect(win), 3);
}

TEST_F(AgentWindowsTest, TheSameMachineGuidHowEverWrittenIsTheSameHost) {
  WindowsRoot a(dir_.Sub("a"), "A", "{4C4C4544-0042-3510-8052-B4C04F4E4D32}");
  WindowsRoot b(dir_.Sub("b"), "B", "4c4c4544-0042-3510-8052-b4c04f4e4d32");
  WindowsRoot c(dir_.Sub("c"), "A", "5d5d5544-0042-3510-8052-b4c04f4e4d32");
  for (WindowsRoot* w : {&a, &b, &c}) w->Write();
  const std::string id_a = Scan(a).report.host().host_id();
  EXPECT_EQ(id_a.size(), 32u);
  EXPECT_EQ(id_a, Scan(b).report.host().host_id());
  EXPECT_NE(id_a, Scan(c).report.host().host_id());
}

TEST_F(AgentWindowsTest, WithoutAMachineGuidTheHostIdComesFromTheNameAndSaysSo) {
  WindowsRoot win(dir_.Sub("noguid"), "WIN-NOGUID", "not-a-guid");
  win.Write();
  const AgentScan scan = Scan(win);
  EXPECT_EQ(scan.report.host().host_id(), agent::HostIdFromMachineId("hostname:WIN-NOGUID"));
  EXPECT_TRUE(AnyWarningContains(scan.report, "no valid MachineGuid")) << JoinWarnings(scan.report);
}

TEST_F(AgentWindowsTest, Windows11IsNamedSoThoughItsProductNameSays10) {
  WindowsRoot win(dir_.Sub("w11"));
  win.software().Key("Microsoft\\Windows NT\\CurrentVersion",
                     {RegValue::Sz("CurrentBuild", "22631"), RegValue::Sz("DisplayVersion", "23H2"),
                      RegValue::Dword("UBR", 2861)});
  win.system().Key("ControlSet001\\Control\\Session Manager\\Environment",
                   {RegValue::Sz("PROCESSOR_ARCHITECTURE", "ARM64")});
  win.Write();
  const AgentScan scan = Scan(win);
  EXPECT_EQ(scan.report.host().os().pretty_name(), "Windows 11 Pro 23H2 (build 22631.2861)");
  EXPECT_EQ(scan.report.host().arch(), "aarch64");
}

TEST_F(AgentWindowsTest, NetworkAgentIsInstalled) {
  WindowsRoot win(dir_.Sub("klnagent"));
  win.Uninstall("{B9518725-0B76-4793-A409-C6794442FCE4}", "Kaspersky Security Center Network Agent",
                "14.0.0.10902", "AO Kaspersky Lab", "C:\\Program Files (x86)\\Kaspersky Lab\\NetworkAgent\\", true);
  win.Service("klnagent", kOwnProcess, kStartAuto,
              "\"C:\\Program Files (x86)\\Kaspersky Lab\\NetworkAgent\\klnagent.exe\"",
              "Kaspersky Security Center Network Agent");
  win.CopyImage(Image("klnagent.exe"), "/Program Files (x86)/Kaspersky Lab/NetworkAgent/klnagent.exe");
  win.File("/Program Files (x86)/Kaspersky Lab/NetworkAgent/klnagchk.exe", "MZ");
  win.Write();

  const AgentScan scan = Scan(win);
  ExpectAllProbesOk(scan.report);
  EXPECT_EQ(States(scan.report),
            (std::map<std::string, v1::ProductState>{{"klnagent", v1::PRODUCT_STATE_INSTALLED}}))
      << FindingIds(scan.report);
  const v1::Finding* f = FindFinding(scan.report, "klnagent");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->version(), "14.0.0.10902");
  const v1::Evidence* service = EvidenceNamed(*f, v1::EVIDENCE_KIND_WINDOWS_SERVICE, "klnagent");
  ASSERT_NE(service, nullptr) << f->DebugString();
  EXPECT_EQ(service->version(), "14.0.0.10902");  // the 32-bit image's FileVersion
  EXPECT_EQ(FailOnDetect(win), 3);
}

TEST_F(AgentWindowsTest, SecurityForWindowsServerIsInstalled) {
  WindowsRoot win(dir_.Sub("ksws"));
  win.Uninstall("{B24D4B7B-A0B8-4C66-8F4F-2BE9A5F0E6E8}", "Kaspersky Security for Windows Server", "11.0.1.897",
                "AO Kaspersky Lab", "C:\\Program Files (x86)\\Kaspersky Lab\\Kaspersky Security for Windows Server\\",
                true);
  win.Service("KAVFS", kOwnProcess, kStartAuto,
              "\"C:\\Program Files (x86)\\Kaspersky Lab\\Kaspersky Security for Windows Server\\kavfs.exe\"",
              "Kaspersky Security Service");
  win.Service("kavfsgt", kOwnProcess, kStartDemand,
              "\"C:\\Program Files (x86)\\Kaspersky Lab\\Kaspersky Security for Windows Server\\kavfsgt.exe\"",
              "Kaspersky Security Management Service");
  win.CopyImage(Image("kavfs.exe"),
                "/Program Files (x86)/Kaspersky Lab/Kaspersky Security for Windows Server/kavfs.exe");
  win.Write();

  const AgentScan scan = Scan(win);
  ExpectAllProbesOk(scan.report);
  EXPECT_EQ(States(scan.report), (std::map<std::string, v1::ProductState>{{"ksws", v1::PRODUCT_STATE_INSTALLED}}))
      << FindingIds(scan.report);
  const v1::Finding* f = FindFinding(scan.report, "ksws");
  ASSERT_NE(f, nullptr);
  EXPECT_NE(EvidenceNamed(*f, v1::EVIDENCE_KIND_WINDOWS_SERVICE, "KAVFS"), nullptr) << f->DebugString();
  EXPECT_NE(EvidenceNamed(*f, v1::EVIDENCE_KIND_WINDOWS_SERVICE, "kavfsgt"), nullptr) << f->DebugString();
  EXPECT_EQ(FailOnDetect(win), 3);
}

TEST_F(AgentWindowsTest, TheConsumerProductIsInstalledUnderEachOfItsNames) {
  for (const std::string name : {"Kaspersky Total Security", "Kaspersky"}) {
    WindowsRoot win(dir_.Sub(name == "Kaspersky" ? "consumer-new" : "consumer-kts"));
    win.Uninstall("{1A59064A-12A9-469F-99B6-04BF118FBFFF}", name, "21.3.10.391", "Kaspersky",
                  "C:\\Program Files (x86)\\Kaspersky Lab\\Kaspersky Total Security 21.3\\", true);
    win.Service("AVP21.3", kOwnProcess, kStartAuto,
                "\"C:\\Program Files (x86)\\Kaspersky Lab\\Kaspersky Total Security 21.3\\avp.exe\"",
                "Kaspersky Anti-Virus Service");
    win.CopyImage(Image("consumer-avp.exe"), "/Program Files (x86)/Kaspersky Lab/Kaspersky Total Security 21.3/avp.exe");
    win.Service("klif", kFileSystemDriver, kStartBoot, "\\SystemRoot\\System32\\DRIVERS\\klif.sys");
    win.CopyImage(Image("klif.sys"), "/Windows/System32/drivers/klif.sys");
    win.Write();

    const AgentScan scan = Scan(win);
    ExpectAllProbesOk(scan.report);
    EXPECT_EQ(States(scan.report),
              (std::map<std::string, v1::ProductState>{{"kaspersky-consumer", v1::PRODUCT_STATE_INSTALLED}}))
        << name << ": " << FindingIds(scan.report);
    const v1::Finding* f = FindFinding(scan.report, "kaspersky-consumer");
    ASSERT_NE(f, nullptr) << name;
    EXPECT_EQ(f->version(), "21.3.10.391");
    EXPECT_NE(EvidenceNamed(*f, v1::EVIDENCE_KIND_INSTALLED_PROGRAM, name), nullptr) << f->DebugString();
    EXPECT_NE(EvidenceNamed(*f, v1::EVIDENCE_KIND_WINDOWS_DRIVER, "klif"), nullptr) << f->DebugString();
    EXPECT_EQ(FailOnDetect(win), 3) << name;
  }
}

TEST_F(AgentWindowsTest, UltraAvBesideKasperskyLeftoversSaysMigrated) {
  WindowsRoot win(dir_.Sub("ultraav"));
  win.Uninstall("UltraAV", "UltraAV", "1.0.3", "Pango", "C:\\Program Files\\UltraAV\\");
  win.Dir("/Program Files/UltraAV");
  win.software().Key("KasperskyLab\\AVP21.3\\environment");
  win.Dir("/ProgramData/Kaspersky Lab/AVP21.3/Data");
  win.Write();

  const AgentScan scan = Scan(win);
  ExpectAllProbesOk(scan.report);
  EXPECT_EQ(States(scan.report), (std::map<std::string, v1::ProductState>{
                                     {"ultraav", v1::PRODUCT_STATE_INSTALLED},
                                     {"kaspersky-traces", v1::PRODUCT_STATE_REMNANT}}))
      << FindingIds(scan.report);
  const v1::Finding* ultra = FindFinding(scan.report, "ultraav");
  ASSERT_NE(ultra, nullptr);
  EXPECT_EQ(ultra->note(), "migrated from Kaspersky");
  EXPECT_EQ(FailOnDetect(win), 3);
}

TEST_F(AgentWindowsTest, KasperskyUninstalledLeavesARemnant) {
  WindowsRoot win(dir_.Sub("remnant"));
  win.software().Key("KasperskyLab\\protected\\AVP21.3\\settings");
  win.software().Key("WOW6432Node\\KasperskyLab\\Components");
  win.Dir("/ProgramData/Kaspersky Lab/AVP21.3/Bases");
  // The klif service key outlived its driver file: no image, no company, so not a driver of Kaspersky's.
  win.Service("klif", kFileSystemDriver, kStartBoot, "\\SystemRoot\\System32\\DRIVERS\\klif.sys");
  win.Write();

  const AgentScan scan = Scan(win);
  ExpectAllProbesOk(scan.report);
  EXPECT_EQ(States(scan.report),
            (std::map<std::string, v1::ProductState>{{"kaspersky-traces", v1::PRODUCT_STATE_REMNANT}}))
      << FindingIds(scan.report);
  EXPECT_EQ(scan.report.verdict(), v1::VERDICT_REMNANT);
  const v1::Finding* f = FindFinding(scan.report, "kaspersky-traces");
  ASSERT_NE(f, nullptr);
  const v1::Evidence* key = EvidenceNamed(*f, v1::EVIDENCE_KIND_REGISTRY_KEY, "HKLM\\SOFTWARE\\KasperskyLab");
  ASSERT_NE(key, nullptr) << f->DebugString();
  EXPECT_EQ(key->path(), "HKLM\\SOFTWARE\\KasperskyLab");
  EXPECT_EQ(key->implies(), v1::PRODUCT_STATE_REMNANT);
  EXPECT_NE(EvidenceNamed(*f, v1::EVIDENCE_KIND_REGISTRY_KEY, "HKLM\\SOFTWARE\\WOW6432Node\\KasperskyLab"), nullptr)
      << f->DebugString();
  EXPECT_EQ(FailOnDetect(win), 0);
}

TEST_F(AgentWindowsTest, ACleanWindowsWithDecoysIsClean) {
  WindowsRoot win(dir_.Sub("clean"));
  // Another company's kl* driver, in the drivers folder like Kaspersky's.
  win.Service("kldrv", kKernelDriver, kStartSystem, "System32\\drivers\\kldrv.sys", "Klein Data Logger");
  win.CopyImage(Image("kldrv.sys"), "/Windows/System32/drivers/kldrv.sys");
  // A program whose name starts like Kaspersky's, from another publisher.
  win.Uninstall("KasperskyPasswordHelper", "Kaspersky Password Helper Tool", "3.1", "Helper Tools Ltd",
                "C:\\Program Files\\Helper Tools\\");
  // ... and one that starts like a Kaspersky product's own name ("Kaspersky Total Security*").
  win.Uninstall("KTSCleaner", "Kaspersky Total Security Cleaner", "2.0", "Contoso Utilities");
  // A service whose description names Kaspersky.
  win.Service("PwdHelperSvc", kOwnProcess, kStartAuto, "\"C:\\Program Files\\Helper Tools\\pwdhelper.exe\"",
              "Password Helper", "Imports passwords exported from Kaspersky Password Manager");
  win.CopyImage(Image("pwdhelper.exe"), "/Program Files/Helper Tools/pwdhelper.exe");
  win.Uninstall("{90160000-008C-0000-1000-0000000FF1CE}", "Microsoft Office 16 Click-to-Run", "16.0.17328.20162",
                "Microsoft Corporation");
  win.Uninstall("NoDisplayName", "", "1.0", "AO Kaspersky Lab");  // Windows does not list it: neither do we
  win.Write();

  const AgentScan scan = Scan(win);
  ExpectAllProbesOk(scan.report);
  EXPECT_EQ(scan.report.findings_size(), 0) << FindingIds(scan.report);
  EXPECT_EQ(scan.report.verdict(), v1::VERDICT_CLEAN);
  // The decoy driver was looked at (its name matches a rule's kl*), not skipped.
  EXPECT_EQ(FindProbe(scan.report, "windows_services")->items(), 4);
  EXPECT_EQ(FindProbe(scan.report, "installed_programs")->items(), 4);
  EXPECT_EQ(FailOnDetect(win), 0);
}

// A rule may name keys under HKLM\SYSTEM\CurrentControlSet: the control set is the one Select\Current names, and a
// wildcard in the last name matches keys by their stored name, reported the way the rule writes the path.
TEST_F(AgentWindowsTest, RegistryKeysUnderCurrentControlSetFollowSelectCurrent) {
  WindowsRoot win(dir_.Sub("controlset"));
  win.system().Key("Select", {RegValue::Dword("Current", 2)});
  win.system().Key("ControlSet001\\Services\\klold", {RegValue::Dword("Type", 1)});
  win.system().Key("ControlSet002\\Services\\KLIF", {RegValue::Dword("Type", 2)});
  win.system().Key("ControlSet002\\Services\\Tcpip", {RegValue::Dword("Type", 1)});
  win.Write();
  const std::string rules = dir_.Sub("rules.json");
  WriteFile(rules, R"({"version": "t1", "products": [{
    "id": "kl-keys", "name": "kl service keys", "vendor": "Test", "platform": "PLATFORM_WINDOWS",
    "signals": [{"kind": "SIGNAL_KIND_REGISTRY_KEY", "pattern": "HKLM\\SYSTEM\\CurrentControlSet\\Services\\kl*",
                 "strength": "STRENGTH_STRONG", "confidence": "CONFIDENCE_CODE", "source": "test"}]}]})");
  const AgentScan scan = Scan(win, {"--rules", rules});
  ExpectAllProbesOk(scan.report);
  const v1::Finding* f = FindFinding(scan.report, "kl-keys");
  ASSERT_NE(f, nullptr) << FindingIds(scan.report);
  ASSERT_EQ(f->evidence_size(), 1) << f->DebugString();
  EXPECT_EQ(f->evidence(0).name(), "HKLM\\SYSTEM\\CurrentControlSet\\Services\\KLIF");
  EXPECT_NE(f->evidence(0).detail().find("ControlSet002"), std::string::npos) << f->evidence(0).detail();
}

struct HiveDamage {
  std::string name;
  std::string file;  // kSoftwareFile or kSystemFile
  std::string reason;
};

void PrintTo(const HiveDamage& d, std::ostream* os) { *os << d.name << " " << d.file; }

class AgentWindowsDamageTest : public AgentWindowsTest, public ::testing::WithParamInterface<HiveDamage> {
 protected:
  static void Apply(const WindowsRoot& win, const std::string& kind, const std::string& file) {
    const std::string path = win.path() + file;
    const std::string bytes = ReadFile(path);
    if (kind == "truncated") WriteFile(path, bytes.substr(0, bytes.size() - 4096));  // the last hive bin gone
    if (kind == "zero-length") WriteFile(path, "");
    if (kind == "wrong-magic") WriteFile(path, std::string("MZ\x90\x00", 4) + bytes.substr(4));
    if (kind == "cyclic") {
      MakeHiveCycle(path, file == kSoftwareFile ? "WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall"
                                                : "ControlSet001\\Services");
    }
  }
};

// KES installed, one hive damaged: the probes reading that hive fail naming it, the report is incomplete, what the
// other hive and the folders show still makes KES INSTALLED, and the exit code says so.
TEST_P(AgentWindowsDamageTest, TheProbeFailsNamingTheFileAndTheRestStands) {
  const auto& d = GetParam();
  WindowsRoot win(dir_.Sub("damaged"));
  AddKes(win);
  win.Write();
  Apply(win, d.name, d.file);

  const AgentScan scan = Scan(win);
  ASSERT_TRUE(scan.process.Exited(0)) << scan.process.Describe();
  const v1::HostReport& r = scan.report;
  EXPECT_TRUE(r.incomplete());
  EXPECT_EQ(r.host().platform(), v1::PLATFORM_WINDOWS);
  std::vector<std::string> failed;
  for (const auto& p : r.probes()) {
    if (p.state() != v1::PROBE_STATE_FAILED) continue;
    failed.push_back(p.name());
    EXPECT_EQ(p.message().rfind(d.file + ": ", 0), 0u) << p.name() << ": " << p.message();
    EXPECT_NE(p.message().find(d.reason), std::string::npos) << p.name() << ": " << p.message();
  }
  std::vector<std::string> want;
  if (d.file == kSystemFile) {
    want = {"windows_services"};
  } else if (d.name == "cyclic") {
    want = {"installed_programs"};  // the cycle is in the 32-bit Uninstall list; the KasperskyLab keys still read
  } else {
    want = {"installed_programs", "registry_keys"};
  }
  EXPECT_EQ(failed, want);
  EXPECT_EQ(States(r), (std::map<std::string, v1::ProductState>{{"kes", v1::PRODUCT_STATE_INSTALLED}}))
      << FindingIds(r);
  EXPECT_EQ(FindProbe(r, "paths")->state(), v1::PROBE_STATE_OK);
  EXPECT_EQ(FailOnDetect(win), 3);
}

INSTANTIATE_TEST_SUITE_P(
    Hives, AgentWindowsDamageTest,
    ::testing::Values(HiveDamage{"truncated", kSoftwareFile, "truncated: the base block declares"},
                      HiveDamage{"zero-length", kSoftwareFile, "empty file (0 bytes)"},
                      HiveDamage{"wrong-magic", kSoftwareFile, "not a registry hive: starts with 'MZ\\x90\\x00'"},
                      HiveDamage{"cyclic", kSoftwareFile, "(cyclic offsets)"},
                      HiveDamage{"truncated", kSystemFile, "truncated: the base block declares"},
                      HiveDamage{"zero-length", kSystemFile, "empty file (0 bytes)"},
                      HiveDamage{"wrong-magic", kSystemFile, "not a registry hive"},
                      HiveDamage{"cyclic", kSystemFile, "(cyclic offsets)"}),
    [](const ::testing::TestParamInfo<HiveDamage>& p) {
      std::string name = p.param.name + (p.param.file == kSoftwareFile ? "_software" : "_system");
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

// Leftovers only, the SOFTWARE hive unreadable: the folder still says REMNANT, and REMNANT is not "detected".
TEST_F(AgentWindowsTest, ARemnantWithADamagedHiveIsStillARemnantAndIncomplete) {
  WindowsRoot win(dir_.Sub("remnant-damaged"));
  win.software().Key("KasperskyLab");
  win.Dir("/ProgramData/Kaspersky Lab/AVP21.3");
  win.Write();
  WriteFile(win.path() + kSoftwareFile, "");
  const AgentScan scan = Scan(win);
  EXPECT_TRUE(scan.report.incomplete());
  EXPECT_EQ(States(scan.report),
            (std::map<std::string, v1::ProductState>{{"kaspersky-traces", v1::PRODUCT_STATE_REMNANT}}))
      << FindingIds(scan.report);
  EXPECT_TRUE(AnyWarningContains(scan.report, "host facts: /Windows/System32/config/SOFTWARE: empty file"))
      << JoinWarnings(scan.report);
  EXPECT_EQ(FailOnDetect(win), 0);
}

// The agent is one static binary: in a root holding nothing but it and the disk (no glibc, no gconv modules), it
// still reads every key name and value (a reader that recoded names with iconv would need glibc's gconv modules).
TEST_F(AgentWindowsTest, TheStaticAgentReadsHivesWithNothingElseOnTheHost) {
  const ProcessResult ldd = RunProcess({"ldd", AgentBinary()});
  if (ldd.out.find("not a dynamic executable") == std::string::npos &&
      ldd.err.find("not a dynamic executable") == std::string::npos) {
    GTEST_SKIP() << "ksweep-agent is linked dynamically in this build (sanitizer or KSWEEP_STATIC_AGENT=OFF)";
  }
  const std::string jail = dir_.Sub("jail");
  WindowsRoot win(jail + "/win");
  AddKes(win);
  win.Write();
  fs::copy_file(AgentBinary(), jail + "/ksweep-agent");
  const ProcessResult r = RunProcess({"unshare", "--user", "--map-root-user", "--root=" + jail, "/ksweep-agent",
                                      "scan", "--root", "/win", "--json"},
                                     RunOptions::WithDeadline(std::chrono::seconds(60)));
  if (r.exit_code != 0 && r.err.find("unshare") != std::string::npos) {
    GTEST_SKIP() << "no user namespaces here: " << r.Describe();
  }
  ASSERT_TRUE(r.Exited(0)) << r.Describe();
  v1::HostReport report;
  std::string error;
  ASSERT_TRUE(ParseReport(r.out, &report, &error)) << error;
  EXPECT_EQ(States(report), (std::map<std::string, v1::ProductState>{{"kes", v1::PRODUCT_STATE_INSTALLED}}));
  EXPECT_EQ(report.host().hostname(), "WIN-FIXTURE");
  EXPECT_FALSE(report.incomplete());
}

}  // namespace
}  // namespace ksweep::test
