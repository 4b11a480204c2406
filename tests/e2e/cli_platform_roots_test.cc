// The whole path for Windows and macOS: real `ksweep-agent run --root` processes on a Windows root (hives written by
// hivexregedit, images with a version resource: tests/integration/windows_fixture.h) and on Mac roots (plists by
// plistlib: tests/fixtures/macos/make_macos_root.py), reporting to a real collector; the real `ksweep` lists them by
// platform and shows their evidence. The shipped rules decide.
#include <set>

#include "tests/e2e/cli_fleet.h"
#include "tests/integration/windows_fixture.h"

namespace ksweep::cli_test {
namespace {

constexpr char kKesUninstallKey[] =
    R"(HKLM\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\{9A017442-D5E1-4F8B-8F3B-4B8C3C9E2A11})";

std::string LineWith(const std::string& text, const std::string& needle) {
  for (const auto& l : Lines(text)) {
    if (l.find(needle) != std::string::npos) return l;
  }
  ADD_FAILURE() << "no line with '" << needle << "' in:\n" << text;
  return "";
}

// KES for Windows 11.11 on a 64-bit Windows 10 (as agent_windows_test's AddKes): the 32-bit Uninstall view, the
// AVP21.3 service with its image, the klif driver with its image, the product key, the install folder.
void MakeKesWindows(const fs::path& root, const fs::path& images) {
  using namespace ksweep::test;  // NOLINT: the fixture's vocabulary
  const std::string kes = "Kaspersky Endpoint Security for Windows";
  WritePeImage((images / "klif.sys").string(), {"AO Kaspersky Lab", "21.3.10.391", "Klif Mini-Filter", kes});
  WritePeImage((images / "avp.exe").string(),
               {"AO Kaspersky Lab", "21.3.10.391", "Kaspersky Endpoint Security Service", kes, /*pe32=*/true});
  WindowsRoot win(root.string(), "WIN-KES01", "{4C4C4544-0042-3510-8052-B4C04F4E4D32}");
  win.Uninstall("{9A017442-D5E1-4F8B-8F3B-4B8C3C9E2A11}", kes, "11.11.0.452", "AO Kaspersky Lab",
                "C:\\Program Files (x86)\\Kaspersky Lab\\Kaspersky Endpoint Security for Windows\\", true);
  win.Service("AVP21.3", kOwnProcess, kStartAuto,
              "\"C:\\Program Files (x86)\\Kaspersky Lab\\Kaspersky Endpoint Security for Windows\\avp.exe\" -r",
              "Kaspersky Endpoint Security Service");
  win.Service("klif", kFileSystemDriver, kStartBoot, "\\SystemRoot\\System32\\DRIVERS\\klif.sys",
              "Kaspersky Lab KLIF");
  win.software().Key("WOW6432Node\\KasperskyLab\\protected\\AVP21.3", {RegValue::Sz("Ins_InitMode", "1")});
  win.CopyImage((images / "klif.sys").string(), "/Windows/System32/drivers/klif.sys");
  win.CopyImage((images / "avp.exe").string(),
                "/Program Files (x86)/Kaspersky Lab/Kaspersky Endpoint Security for Windows/avp.exe");
  win.Write();
}

class CliPlatformRootsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path roots = tmp_.path() / "roots";
    try {
      fs::create_directories(tmp_.path() / "images");
      MakeKesWindows(roots / "win", tmp_.path() / "images");
    } catch (const std::exception& e) {
      FAIL() << "Windows fixture: " << e.what();
    }
    // Kaspersky Anti-Virus for Mac installed, and in each folder a probe reads one damaged plist.
    const Outcome made = RunCommand({"/usr/bin/python3", std::string(KSWEEP_SOURCE_DIR) +
                                         "/tests/fixtures/macos/make_macos_root.py", "corrupt", (roots / "mac").string()},
                                    tmp_.path());
    ASSERT_EQ(made.code, 0) << Describe(made);
    MakeRoot(roots / "linux", "plat-linux-1", 21, {{"kesl", "12.1.0.1297"}});
    fleet_ = std::make_unique<Fleet>(tmp_.path() / "fleet");
    ASSERT_TRUE(fleet_->StartCollector());
    for (const char* name : {"win", "mac", "linux"}) fleet_->StartAgent(name, roots / name);
    ASSERT_TRUE(fleet_->WaitForSummary([](const v1::Summary& s) {
      std::map<std::string, int64_t> platforms;
      for (const auto& c : s.by_platform()) platforms[c.key()] = c.hosts();
      return platforms == std::map<std::string, int64_t>{{"linux", 1}, {"macos", 1}, {"windows", 1}} &&
             Fleet::VerdictCount(s, "INSTALLED") == 3;
    }));
  }

  void TearDown() override {
    if (HasFailure() && fleet_) std::cerr << fleet_->AgentLogs() << "\n";
    fleet_.reset();
  }

  TempDir tmp_;
  std::unique_ptr<Fleet> fleet_;
};

TEST_F(CliPlatformRootsTest, AWindowsRootScannedByTheAgentIsListedWithItsEvidence) {
  Outcome listed = fleet_->Ksweep({"hosts", "--platform", "windows", "-o", "json"});
  ASSERT_EQ(listed.code, 0) << Describe(listed);
  const auto hosts = ParseJson<v1::ListHostsResponse>(listed.out);
  ASSERT_EQ(hosts.hosts_size(), 1) << listed.out;
  EXPECT_EQ(hosts.hosts(0).hostname(), "WIN-KES01");
  EXPECT_EQ(hosts.hosts(0).platform(), v1::PLATFORM_WINDOWS);
  EXPECT_EQ(hosts.hosts(0).verdict(), v1::VERDICT_INSTALLED);
  EXPECT_EQ(std::vector<std::string>(hosts.hosts(0).products().begin(), hosts.hosts(0).products().end()),
            std::vector<std::string>{"kes"});

  Outcome host = fleet_->Ksweep({"host", "WIN-KES01"});
  ASSERT_EQ(host.code, 0) << Describe(host);
  EXPECT_NE(host.out.find("Platform      Windows\n"), std::string::npos) << host.out;
  EXPECT_NE(host.out.find("Verdict       INSTALLED\n"), std::string::npos) << host.out;
  EXPECT_NE(host.out.find("  kes  Kaspersky Endpoint Security for Windows  INSTALLED  11.11.0.452\n"),
            std::string::npos)
      << host.out;
  EXPECT_EQ(LineWith(host.out, "INSTALLED_PROGRAM"),
            std::string("    INSTALLED_PROGRAM  ") + kKesUninstallKey +
                "  'Kaspersky Endpoint Security for Windows' 11.11.0.452, publisher 'AO Kaspersky Lab'");
  EXPECT_NE(LineWith(host.out, "WINDOWS_SERVICE").find(R"(HKLM\SYSTEM\CurrentControlSet\Services\AVP21.3  )"),
            std::string::npos)
      << host.out;
  // Services and drivers read as the agent's line: display name, start mode, image, the image's company.
  EXPECT_NE(LineWith(host.out, "WINDOWS_SERVICE")
                .find("service AVP21.3 'Kaspersky Endpoint Security Service' (Start 2 auto), image "),
            std::string::npos)
      << host.out;
  EXPECT_NE(LineWith(host.out, "WINDOWS_DRIVER")
                .find(R"(driver klif 'Kaspersky Lab KLIF' (Start 0 boot), image \SystemRoot\System32\DRIVERS\klif.sys, )"
                      "company 'AO Kaspersky Lab', version 21.3.10.391"),
            std::string::npos)
      << host.out;

  // The agent's own table of the same root: the same record, the same way.
  const Outcome scan = RunCommand({AgentBinary(), "scan", "--root", (tmp_.path() / "roots/win").string()}, tmp_.path());
  ASSERT_EQ(scan.code, 0) << Describe(scan);
  EXPECT_NE(scan.out.find("OS       Windows 10 Pro 22H2 (build 19045.3803)  kernel 10.0.19045.3803  x86_64\n"),
            std::string::npos)
      << scan.out;
  EXPECT_EQ(LineWith(scan.out, "INSTALLED_PROGRAM"),
            std::string("    INSTALLED_PROGRAM: ") + kKesUninstallKey +
                "  'Kaspersky Endpoint Security for Windows' 11.11.0.452, publisher 'AO Kaspersky Lab'");
}

TEST_F(CliPlatformRootsTest, AMacRootWithDamagedPlistsIsListedAsIncomplete) {
  Outcome table = fleet_->Ksweep({"hosts", "--platform", "macos"});
  ASSERT_EQ(table.code, 0) << Describe(table);
  const auto lines = Lines(table.out);
  ASSERT_EQ(lines.size(), 2u) << table.out;
  EXPECT_TRUE(lines[1].starts_with("anna-mbp  INSTALLED (incomplete)  kaspersky-consumer  macOS     macos 14.4.1"))
      << table.out;

  Outcome host = fleet_->Ksweep({"host", "anna-mbp"});
  ASSERT_EQ(host.code, 0) << Describe(host);
  EXPECT_NE(host.out.find("Platform      macOS\n"), std::string::npos) << host.out;
  EXPECT_NE(host.out.find("Verdict       INSTALLED (incomplete: probes app_bundles, launchd_jobs, package_receipts, "
                          "kernel_extensions failed)\n"),
            std::string::npos)
      << host.out;
  EXPECT_NE(host.out.find("\nFailed probes (the verdict covers only what could be read)\n"), std::string::npos)
      << host.out;
  EXPECT_NE(LineWith(host.out, "  launchd_jobs  ").find("com.example.truncated.plist"), std::string::npos)
      << host.out;
  // Where the bundle is, then what its Info.plist says (columns padded to line up with the other evidence).
  const std::string bundle = LineWith(host.out, "APP_BUNDLE");
  EXPECT_TRUE(bundle.starts_with("    APP_BUNDLE        /Applications/Kaspersky Anti-Virus For Mac.app  ")) << host.out;
  EXPECT_NE(bundle.find("  'com.kaspersky.kav.gui' 21.0.22.463, publisher 'Copyright 1997-2021 AO Kaspersky Lab."),
            std::string::npos)
      << host.out;
  EXPECT_NE(LineWith(host.out, "LAUNCHD_JOB").find("/Library/LaunchDaemons/com.kaspersky.kav.plist"),
            std::string::npos)
      << host.out;

  Outcome summary = fleet_->Ksweep({"summary"});
  ASSERT_EQ(summary.code, 0) << Describe(summary);
  EXPECT_NE(summary.out.find("\nPLATFORM  HOSTS\n"), std::string::npos) << summary.out;
  for (const char* row : {"\nLinux     1\n", "\nWindows   1\n", "\nmacOS     1\n"}) {
    EXPECT_NE(summary.out.find(row), std::string::npos) << row << summary.out;
  }
}

}  // namespace
}  // namespace ksweep::cli_test
