// The whole path for a Windows machine: `ksweep-agent run --root` on a Windows system root (hives written by
// hivexregedit, see tests/integration/windows_fixture.h) streams to a real collector; the CLI lists the host under
// `--platform windows` with its Windows evidence, and removing Kaspersky from the hives reaches the collector as
// REMOVED without waiting for the interval scan (the daemon watches the SOFTWARE and SYSTEM hives).
#include <google/protobuf/util/json_util.h>

#include "tests/e2e/cli_fleet.h"
#include "tests/integration/windows_fixture.h"

namespace ksweep::cli_test {
namespace {

constexpr char kGuid[] = "{9A017442-D5E1-4F8B-8F3B-4B8C3C9E2A11}";
constexpr char kKesKey[] =
    "HKLM\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\{9A017442-D5E1-4F8B-8F3B-4B8C3C9E2A11}";

template <typename Message>
Message ParseJsonAs(const std::string& text) {
  Message m;
  const auto st = google::protobuf::util::JsonStringToMessage(text, &m);
  EXPECT_TRUE(st.ok()) << st.ToString() << "\n" << text;
  return m;
}

// A Windows 10 machine; with `kes` KES for Windows 11.11 as it lies on disk: its 32-bit Uninstall entry, the AVP
// service with its image in the KES folder, leftovers-to-be under ProgramData.
void WriteWindows(const std::string& path, bool kes) {
  test::WindowsRoot win(path, "WIN-E2E-01");
  win.Dir("/ProgramData/Microsoft");
  if (kes) {
    win.Uninstall(kGuid, "Kaspersky Endpoint Security for Windows", "11.11.0.452", "AO Kaspersky Lab",
                  "C:\\Program Files (x86)\\Kaspersky Lab\\Kaspersky Endpoint Security for Windows\\", true);
    win.Service("AVP21.3", test::kOwnProcess, test::kStartAuto,
                "\"C:\\Program Files (x86)\\Kaspersky Lab\\Kaspersky Endpoint Security for Windows\\avp.exe\" -r",
                "Kaspersky Endpoint Security Service");
  }
  win.Write();
}

class WindowsFleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fleet_ = std::make_unique<Fleet>(tmp_.path());
    ASSERT_TRUE(fleet_->StartCollector());
    root_ = tmp_.path() / "win";
    ASSERT_NO_THROW(WriteWindows(root_.string(), /*kes=*/true));
    fleet_->StartAgent("win-e2e", root_);
  }

  // The host as `ksweep hosts --platform windows -o json` lists it, once it lists exactly one.
  ::testing::AssertionResult WaitForWindowsHost(v1::Verdict verdict, v1::HostSummary* out) {
    std::string last;
    const bool ok = WaitFor([&] {
      Outcome r = fleet_->Ksweep({"hosts", "--platform", "windows", "-o", "json"});
      last = Describe(r);
      if (r.code != 0) return false;
      v1::ListHostsResponse hosts;
      if (!google::protobuf::util::JsonStringToMessage(r.out, &hosts).ok() || hosts.hosts_size() != 1) return false;
      *out = hosts.hosts(0);
      return out->verdict() == verdict;
    });
    if (ok) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "no Windows host with verdict " << v1::Verdict_Name(verdict)
                                         << "; last: " << last << fleet_->AgentLogs();
  }

  TempDir tmp_;
  std::unique_ptr<Fleet> fleet_;
  fs::path root_;
};

TEST_F(WindowsFleetTest, AWindowsDiskIsAWindowsHostWithItsEvidenceAndItsRemovalArrives) {
  v1::HostSummary host;
  ASSERT_TRUE(WaitForWindowsHost(v1::VERDICT_INSTALLED, &host));
  EXPECT_EQ(host.hostname(), "WIN-E2E-01");
  EXPECT_EQ(host.platform(), v1::PLATFORM_WINDOWS);
  EXPECT_EQ(host.os().id(), "windows");
  ASSERT_EQ(host.products_size(), 1);
  EXPECT_EQ(host.products(0), "kes");

  // Not a Linux host.
  Outcome linux_hosts = fleet_->Ksweep({"hosts", "--platform", "linux", "-o", "csv"});
  ASSERT_EQ(linux_hosts.code, 0) << Describe(linux_hosts);
  EXPECT_EQ(ParseCsv(linux_hosts.out).size(), 1u) << "header only: " << linux_hosts.out;

  // The host view shows the Uninstall entry where it is and what it says, and the service with its image.
  Outcome view = fleet_->Ksweep({"host", "WIN-E2E-01"});
  ASSERT_EQ(view.code, 0) << Describe(view);
  EXPECT_NE(view.out.find(kKesKey), std::string::npos) << view.out;
  EXPECT_NE(view.out.find("'Kaspersky Endpoint Security for Windows' 11.11.0.452"), std::string::npos) << view.out;
  EXPECT_NE(view.out.find("AO Kaspersky Lab"), std::string::npos) << view.out;
  EXPECT_NE(view.out.find("AVP21.3"), std::string::npos) << view.out;
  EXPECT_NE(view.out.find("Windows"), std::string::npos) << view.out;

  // JSON carries the evidence's own fields.
  Outcome json = fleet_->Ksweep({"host", "WIN-E2E-01", "-o", "json"});
  ASSERT_EQ(json.code, 0) << Describe(json);
  const auto detail = ParseJsonAs<v1::Host>(json.out);
  ASSERT_EQ(detail.findings_size(), 1);
  EXPECT_EQ(detail.findings(0).version(), "11.11.0.452");
  bool program = false;
  for (const auto& e : detail.findings(0).evidence()) {
    if (e.kind() != v1::EVIDENCE_KIND_INSTALLED_PROGRAM) continue;
    program = true;
    EXPECT_EQ(e.path(), kKesKey);
    EXPECT_EQ(e.name(), "Kaspersky Endpoint Security for Windows");
    EXPECT_EQ(e.publisher(), "AO Kaspersky Lab");
  }
  EXPECT_TRUE(program) << json.out;
  EXPECT_EQ(detail.facts().platform(), v1::PLATFORM_WINDOWS);

  // Uninstalled: the hives are written again without KES. The agent's default interval is far longer than the
  // deadline, so only the hive watch can bring this in time.
  ASSERT_NO_THROW(WriteWindows(root_.string(), /*kes=*/false));
  ASSERT_TRUE(WaitForWindowsHost(v1::VERDICT_CLEAN, &host));
  Outcome events = fleet_->Ksweep({"events", "--host", "WIN-E2E-01", "-o", "csv"});
  ASSERT_EQ(events.code, 0) << Describe(events);
  EXPECT_NE(events.out.find("REMOVED"), std::string::npos) << events.out;
  EXPECT_NE(events.out.find("kes"), std::string::npos) << events.out;
}

}  // namespace
}  // namespace ksweep::cli_test
