// The fleet's platforms through the real CLI: a real collector, Linux hosts from real agents scanning fixture roots,
// and Windows and macOS hosts whose reports arrive over the agent protocol as ksweep-agent sends them (AgentStream),
// carrying the evidence the Windows and macOS probes produce: Uninstall entries, services, drivers, registry keys,
// receipts, a successor's note and a scan left incomplete by a damaged file: every case in a few exact reports.
// cli_platform_roots_test.cc runs the real agent on Windows and Mac fixture roots for the whole path.
#include <google/protobuf/util/time_util.h>

#include <set>

#include "tests/e2e/agent_stream.h"
#include "tests/e2e/cli_fleet.h"

namespace ksweep::cli_test {
namespace {

constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kKesUninstallKey =
    R"(HKLM\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\{7A4192A1-84C4-4E90-A31B-F8BCDE2A4C6D})";

v1::HostFacts HostFacts(const std::string& id, const std::string& hostname, v1::Platform platform,
                        const std::string& os_id, const std::string& version, const std::string& pretty,
                        const std::string& root) {
  v1::HostFacts h;
  h.set_host_id(id);
  h.set_hostname(hostname);
  h.set_platform(platform);
  h.mutable_os()->set_id(os_id);
  h.mutable_os()->set_version_id(version);
  h.mutable_os()->set_pretty_name(pretty);
  h.set_arch("x86_64");
  h.set_root(root);
  return h;
}

v1::Evidence* AddRecord(v1::Finding* f, v1::EvidenceKind kind, const std::string& path, const std::string& name,
                        const std::string& version, const std::string& publisher, const std::string& detail,
                        v1::ProductState implies) {
  auto* e = f->add_evidence();
  e->set_kind(kind);
  e->set_path(path);
  e->set_name(name);
  e->set_version(version);
  e->set_publisher(publisher);
  e->set_detail(detail);
  e->set_strength(v1::STRENGTH_STRONG);
  e->set_confidence(v1::CONFIDENCE_OFFICIAL);
  e->set_implies(implies);
  return e;
}

v1::HostReport BaseReport(const v1::HostFacts& facts, v1::Verdict verdict) {
  v1::HostReport r;
  *r.mutable_host() = facts;
  r.set_verdict(verdict);
  *r.mutable_scanned_at() = google::protobuf::util::TimeUtil::GetCurrentTime();
  r.set_agent_version("0.1.0");
  r.set_rules_version("test");
  return r;
}

// A Windows desktop with KES 11.11: its Uninstall entry (32-bit view), its service and driver, the product key.
v1::HostReport KesDesktop() {
  auto r = BaseReport(HostFacts("9e1f00000000000000000000000000a1", "DESK-0042", v1::PLATFORM_WINDOWS, "windows",
                                "10.0.19045", "Windows 10 Pro", "/mnt/desk-0042"),
                      v1::VERDICT_INSTALLED);
  auto* f = r.add_findings();
  f->set_product_id("kes");
  f->set_product_name("Kaspersky Endpoint Security for Windows");
  f->set_vendor("Kaspersky");
  f->set_state(v1::PRODUCT_STATE_INSTALLED);
  f->set_version("11.11.0.452");
  AddRecord(f, v1::EVIDENCE_KIND_INSTALLED_PROGRAM, kKesUninstallKey, "Kaspersky Endpoint Security for Windows",
            "11.11.0.452", "AO Kaspersky Lab", "Uninstall entry 'Kaspersky Endpoint Security for Windows' 11.11.0.452",
            v1::PRODUCT_STATE_INSTALLED);
  AddRecord(f, v1::EVIDENCE_KIND_WINDOWS_SERVICE, R"(HKLM\SYSTEM\CurrentControlSet\Services\AVP21.3)", "AVP21.3",
            "21.3.10.391", "AO Kaspersky Lab",
            R"(service AVP21.3, start automatic, image C:\Program Files (x86)\Kaspersky Lab\KES.11.11.0\avp.exe)",
            v1::PRODUCT_STATE_INSTALLED);
  AddRecord(f, v1::EVIDENCE_KIND_WINDOWS_DRIVER, R"(HKLM\SYSTEM\CurrentControlSet\Services\klif)", "klif",
            "11.11.0.452", "AO Kaspersky Lab", R"(driver klif, start boot, image system32\DRIVERS\klif.sys)",
            v1::PRODUCT_STATE_INSTALLED);
  AddRecord(f, v1::EVIDENCE_KIND_REGISTRY_KEY, R"(HKLM\SOFTWARE\WOW6432Node\KasperskyLab)",
            R"(HKLM\SOFTWARE\WOW6432Node\KasperskyLab)", "", "", "registry key present",
            v1::PRODUCT_STATE_REMNANT);
  return r;
}

// A home PC moved to UltraAV in September 2024, with Kaspersky's data folder left behind.
v1::HostReport UltraAvDesktop() {
  auto r = BaseReport(HostFacts("9e1f00000000000000000000000000a2", "DESK-0077", v1::PLATFORM_WINDOWS, "windows",
                                "10.0.22631", "Windows 11 Home", "/mnt/desk-0077"),
                      v1::VERDICT_INSTALLED);
  auto* u = r.add_findings();
  u->set_product_id("ultraav");
  u->set_product_name("UltraAV (Pango)");
  u->set_vendor("Pango");
  u->set_state(v1::PRODUCT_STATE_INSTALLED);
  u->set_version("6.0.1");
  u->set_note("migrated from Kaspersky");
  AddRecord(u, v1::EVIDENCE_KIND_INSTALLED_PROGRAM,
            R"(HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\UltraAV)", "UltraAV", "6.0.1", "Pango",
            "Uninstall entry 'UltraAV' 6.0.1", v1::PRODUCT_STATE_INSTALLED);
  auto* t = r.add_findings();
  t->set_product_id("kaspersky-traces");
  t->set_product_name("Kaspersky leftovers (no product identified)");
  t->set_state(v1::PRODUCT_STATE_REMNANT);
  auto* e = t->add_evidence();
  e->set_kind(v1::EVIDENCE_KIND_PATH);
  e->set_path(R"(C:\ProgramData\Kaspersky Lab)");
  e->set_detail(R"(folder C:\ProgramData\Kaspersky Lab exists)");
  e->set_strength(v1::STRENGTH_STRONG);
  e->set_implies(v1::PRODUCT_STATE_REMNANT);
  return r;
}

// A Mac with only Kaspersky's installer receipt left, scanned with one probe failing on a damaged plist.
v1::HostReport ReceiptMac() {
  auto r = BaseReport(HostFacts("9e1f00000000000000000000000000a3", "mac-studio-3", v1::PLATFORM_MACOS, "macos",
                                "14.4.1", "macOS 14.4.1", "/mnt/mac-studio-3"),
                      v1::VERDICT_REMNANT);
  r.set_incomplete(true);
  auto* ok = r.add_probes();
  ok->set_name("package_receipts");
  ok->set_state(v1::PROBE_STATE_OK);
  auto* failed = r.add_probes();
  failed->set_name("launchd_jobs");
  failed->set_state(v1::PROBE_STATE_FAILED);
  failed->set_message("'Library/LaunchDaemons/com.kaspersky.kav.plist': not a property list (truncated at byte 212)");
  r.add_warnings("probe launchd_jobs failed, the scan is incomplete: " + failed->message());
  auto* f = r.add_findings();
  f->set_product_id("kes");
  f->set_product_name("Kaspersky Endpoint Security for Mac");
  f->set_state(v1::PRODUCT_STATE_REMNANT);
  f->set_version("11.3.0.285");
  AddRecord(f, v1::EVIDENCE_KIND_PACKAGE_RECEIPT, "/var/db/receipts/com.kaspersky.kes.plist", "com.kaspersky.kes",
            "11.3.0.285", "", "package receipt com.kaspersky.kes 11.3.0.285", v1::PRODUCT_STATE_REMNANT);
  return r;
}

// Two Linux hosts scanned by real agents, two Windows hosts and a Mac over AgentStream.
class CliPlatformTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path roots = tmp_.path() / "roots";
    MakeRoot(roots / "kesl", "plat-kesl-1", 11, {{"kesl", "12.1.0.1297"}});
    MakeRoot(roots / "clean", "plat-clean-1", 12, {{"bash", "5.2.15-2+b2"}});
    fleet_ = std::make_unique<Fleet>(tmp_.path() / "fleet");
    ASSERT_TRUE(fleet_->StartCollector());
    fleet_->StartAgent("kesl", roots / "kesl");
    fleet_->StartAgent("clean", roots / "clean");
    for (const auto& report : {KesDesktop(), UltraAvDesktop(), ReceiptMac()}) {
      streams_.push_back(std::make_unique<AgentStream>(fleet_->agent_address()));
      ASSERT_TRUE(streams_.back()->Greet(report.host()));
      ASSERT_TRUE(streams_.back()->Send(report));
    }
    ASSERT_TRUE(fleet_->WaitForSummary([](const v1::Summary& s) { return s.total_hosts() == 5; }));
  }

  void TearDown() override {
    if (HasFailure() && fleet_) std::cerr << fleet_->AgentLogs() << "\n";
    streams_.clear();
    fleet_.reset();
  }

  Outcome Ksweep(std::vector<std::string> args) { return fleet_->Ksweep(std::move(args)); }

  std::vector<std::string> Hostnames(std::vector<std::string> args) {
    args.insert(args.begin(), "hosts");
    args.insert(args.end(), {"-o", "json"});
    Outcome r = Ksweep(args);
    EXPECT_EQ(r.code, 0) << Describe(r);
    std::vector<std::string> names;
    const auto hosts = ParseJson<v1::ListHostsResponse>(r.out);
    for (const auto& h : hosts.hosts()) names.push_back(h.hostname());
    return names;
  }

  std::string LineWith(const std::string& text, const std::string& needle) {
    for (const auto& l : Lines(text)) {
      if (l.find(needle) != std::string::npos) return l;
    }
    ADD_FAILURE() << "no line with '" << needle << "' in:\n" << text;
    return "";
  }

  TempDir tmp_;
  std::unique_ptr<Fleet> fleet_;
  std::vector<std::unique_ptr<AgentStream>> streams_;
};

TEST_F(CliPlatformTest, SummaryBreaksDownByPlatform) {
  Outcome table = Ksweep({"summary"});
  ASSERT_EQ(table.code, 0) << Describe(table);
  EXPECT_TRUE(table.out.starts_with("Hosts: 5 total, 3 affected (running or installed), 0 stale")) << table.out;
  EXPECT_NE(table.out.find("\nPLATFORM  HOSTS\nLinux     2\nWindows   2\nmacOS     1\n"), std::string::npos)
      << table.out;

  Outcome json = Ksweep({"summary", "-o", "json"});
  ASSERT_EQ(json.code, 0) << Describe(json);
  std::map<std::string, std::string> platforms;
  const auto summary = ParseJson<v1::Summary>(json.out);
  for (const auto& c : summary.by_platform()) {
    platforms[c.key()] = c.label() + " " + std::to_string(c.hosts());
  }
  EXPECT_EQ(platforms, (std::map<std::string, std::string>{
                           {"linux", "Linux 2"}, {"windows", "Windows 2"}, {"macos", "macOS 1"}}));

  Outcome csv = Ksweep({"summary", "-o", "csv"});
  ASSERT_EQ(csv.code, 0) << Describe(csv);
  std::set<std::vector<std::string>> rows;
  for (auto& row : ParseCsv(csv.out)) {
    if (row[0] == "platform") rows.insert(row);
  }
  EXPECT_EQ(rows, (std::set<std::vector<std::string>>{{"platform", "linux", "Linux", "2"},
                                                      {"platform", "windows", "Windows", "2"},
                                                      {"platform", "macos", "macOS", "1"}}));
}

TEST_F(CliPlatformTest, HostsFilterByPlatform) {
  using V = std::vector<std::string>;
  EXPECT_EQ(Hostnames({"--platform", "windows"}), (V{"DESK-0042", "DESK-0077"}));
  EXPECT_EQ(Hostnames({"--platform", "windows,macos"}), (V{"DESK-0042", "DESK-0077", "mac-studio-3"}));
  EXPECT_EQ(Hostnames({"--platform", "MacOS"}), V{"mac-studio-3"});
  EXPECT_EQ(Hostnames({"--platform", "linux"}), (V{"plat-clean-1", "plat-kesl-1"})) << "real agents report Linux";
  EXPECT_EQ(Hostnames({"--platform", "linux,windows", "--verdict", "installed"}),
            (V{"DESK-0042", "DESK-0077", "plat-kesl-1"}));
  EXPECT_EQ(Hostnames({"--filter", "platform=macos,linux verdict=remnant"}), V{"mac-studio-3"});
  EXPECT_EQ(Hostnames({"--platform", "windows", "--filter", "platform=linux"}), V{}) << "flag and expr are ANDed";
  EXPECT_EQ(Hostnames({"--platform", "windows", "--product", "ultraav"}), V{"DESK-0077"});

  // The table: a PLATFORM column; CSV and JSON: the field.
  Outcome table = Ksweep({"hosts", "--platform", "windows,macos"});
  ASSERT_EQ(table.code, 0) << Describe(table);
  const auto lines = Lines(table.out);
  ASSERT_EQ(lines.size(), 4u) << table.out;
  EXPECT_NE(lines[0].find("  PLATFORM  OS  "), std::string::npos) << table.out;
  EXPECT_NE(lines[1].find("  Windows   windows 10.0.19045  "), std::string::npos) << table.out;
  EXPECT_TRUE(lines[3].starts_with("mac-studio-3  REMNANT (incomplete)  kes")) << table.out;
  EXPECT_NE(lines[3].find("  macOS     macos 14.4.1  "), std::string::npos) << table.out;

  Outcome csv = Ksweep({"hosts", "-o", "csv"});
  ASSERT_EQ(csv.code, 0) << Describe(csv);
  const auto rows = ParseCsv(csv.out);
  ASSERT_EQ(rows.size(), 6u) << csv.out;
  ASSERT_EQ(rows[0].size(), 15u) << csv.out;
  EXPECT_EQ(rows[0][13], "platform");
  EXPECT_EQ(rows[0][14], "incomplete");
  std::map<std::string, std::string> by_host;
  for (size_t i = 1; i < rows.size(); ++i) by_host[rows[i][1]] = rows[i][13] + "/" + rows[i][14];
  EXPECT_EQ(by_host, (std::map<std::string, std::string>{{"DESK-0042", "windows/false"},
                                                         {"DESK-0077", "windows/false"},
                                                         {"mac-studio-3", "macos/true"},
                                                         {"plat-clean-1", "linux/false"},
                                                         {"plat-kesl-1", "linux/false"}}));

  Outcome json = Ksweep({"hosts", "--platform", "macos", "-o", "json"});
  ASSERT_EQ(json.code, 0) << Describe(json);
  EXPECT_NE(json.out.find("\"platform\": \"PLATFORM_MACOS\""), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"incomplete\": true"), std::string::npos) << json.out;
  EXPECT_EQ(ParseJson<v1::ListHostsResponse>(json.out).total_size(), 1);
}

TEST_F(CliPlatformTest, BadPlatformsAreUsageErrors) {
  // Caught by the CLI, before any RPC: the flag and the value named.
  Outcome local = Ksweep({"hosts", "--platform", "windows,beos"});
  EXPECT_EQ(local.code, 2) << Describe(local);
  EXPECT_NE(local.err.find("--platform: unknown value 'beos' (expected a comma list of linux, windows, macos)"),
            std::string::npos)
      << local.err;
  // In an expression: the collector names the term.
  Outcome expr = Ksweep({"hosts", "--filter", "verdict=installed platform=win"});
  EXPECT_EQ(expr.code, 2) << Describe(expr);
  EXPECT_NE(expr.err.find("ksweep: the collector rejected the request: "), std::string::npos) << expr.err;
  EXPECT_NE(expr.err.find("term 'platform=win' at offset 18: platform 'win' is not linux, windows or macos"),
            std::string::npos)
      << expr.err;
}

TEST_F(CliPlatformTest, HostViewShowsWindowsEvidenceReadably) {
  Outcome table = Ksweep({"host", "DESK-0042"});
  ASSERT_EQ(table.code, 0) << Describe(table);
  EXPECT_NE(table.out.find("Platform      Windows\n"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("Verdict       INSTALLED\n"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("OS            Windows 10 Pro (windows 10.0.19045)\n"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("  kes  Kaspersky Endpoint Security for Windows  INSTALLED  11.11.0.452\n"),
            std::string::npos)
      << table.out;
  // Where the record is, then what it says about itself.
  EXPECT_EQ(LineWith(table.out, "INSTALLED_PROGRAM"),
            std::string("    INSTALLED_PROGRAM  ") + kKesUninstallKey +
                "  'Kaspersky Endpoint Security for Windows' 11.11.0.452, publisher 'AO Kaspersky Lab'");
  // A service or driver reads as the agent's line: it names the image and the start mode.
  EXPECT_TRUE(LineWith(table.out, "WINDOWS_SERVICE")
                  .ends_with(R"(service AVP21.3, start automatic, image C:\Program Files (x86)\Kaspersky Lab\)"
                             R"(KES.11.11.0\avp.exe)"))
      << table.out;
  EXPECT_NE(LineWith(table.out, "WINDOWS_DRIVER").find(R"(HKLM\SYSTEM\CurrentControlSet\Services\klif  )"),
            std::string::npos)
      << table.out;
  EXPECT_TRUE(LineWith(table.out, "WINDOWS_DRIVER").ends_with(R"(driver klif, start boot, image system32\DRIVERS\klif.sys)"))
      << table.out;
  EXPECT_TRUE(LineWith(table.out, "REGISTRY_KEY").ends_with("registry key present")) << table.out;
  EXPECT_EQ(table.out.find("Failed probes"), std::string::npos) << table.out;

  Outcome ultra = Ksweep({"host", "DESK-0077"});
  ASSERT_EQ(ultra.code, 0) << Describe(ultra);
  EXPECT_NE(ultra.out.find("  ultraav  UltraAV (Pango)  INSTALLED  6.0.1  (migrated from Kaspersky)\n"),
            std::string::npos)
      << ultra.out;
  EXPECT_TRUE(LineWith(ultra.out, "Uninstall\\UltraAV").ends_with("'UltraAV' 6.0.1, publisher 'Pango'"))
      << ultra.out;
  EXPECT_NE(LineWith(ultra.out, "    PATH").find(R"(folder C:\ProgramData\Kaspersky Lab exists)"), std::string::npos)
      << ultra.out;

  // The record's fields in CSV columns of their own; JSON is the API's message.
  Outcome csv = Ksweep({"host", "DESK-0042", "-o", "csv"});
  ASSERT_EQ(csv.code, 0) << Describe(csv);
  const auto rows = ParseCsv(csv.out);
  ASSERT_EQ(rows.size(), 5u) << csv.out;
  ASSERT_EQ(rows[0].size(), 20u) << csv.out;
  EXPECT_EQ((std::vector<std::string>(rows[0].begin() + 14, rows[0].end())),
            (std::vector<std::string>{"evidence_name", "evidence_version", "evidence_publisher", "note", "platform",
                                      "incomplete"}));
  EXPECT_EQ(rows[1][8], "INSTALLED_PROGRAM");
  EXPECT_EQ(rows[1][10], kKesUninstallKey);
  EXPECT_EQ((std::vector<std::string>(rows[1].begin() + 14, rows[1].end())),
            (std::vector<std::string>{"Kaspersky Endpoint Security for Windows", "11.11.0.452", "AO Kaspersky Lab", "",
                                      "windows", "false"}));
  Outcome json = Ksweep({"host", "DESK-0077", "-o", "json"});
  ASSERT_EQ(json.code, 0) << Describe(json);
  const auto host = ParseJson<v1::Host>(json.out);
  EXPECT_EQ(host.summary().platform(), v1::PLATFORM_WINDOWS);
  ASSERT_EQ(host.findings_size(), 2);
  EXPECT_EQ(host.findings(0).note(), "migrated from Kaspersky");
  EXPECT_EQ(host.findings(0).evidence(0).publisher(), "Pango");
}

TEST_F(CliPlatformTest, HostViewShowsAnIncompleteScan) {
  Outcome table = Ksweep({"host", "mac-studio-3"});
  ASSERT_EQ(table.code, 0) << Describe(table);
  EXPECT_NE(table.out.find("Platform      macOS\n"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("Verdict       REMNANT (incomplete: probe launchd_jobs failed)\n"), std::string::npos)
      << table.out;
  EXPECT_NE(table.out.find("\nFailed probes (the verdict covers only what could be read)\n"
                           "  launchd_jobs  'Library/LaunchDaemons/com.kaspersky.kav.plist': not a property list "
                           "(truncated at byte 212)\n"),
            std::string::npos)
      << table.out;
  EXPECT_EQ(LineWith(table.out, "PACKAGE_RECEIPT"),
            "    PACKAGE_RECEIPT  /var/db/receipts/com.kaspersky.kes.plist  'com.kaspersky.kes' 11.3.0.285");
  Outcome json = Ksweep({"host", "mac-studio-3", "-o", "json"});
  ASSERT_EQ(json.code, 0) << Describe(json);
  const auto host = ParseJson<v1::Host>(json.out);
  EXPECT_TRUE(host.summary().incomplete());
  ASSERT_EQ(host.failed_probes_size(), 1);
  EXPECT_EQ(host.failed_probes(0).name(), "launchd_jobs");

  // A later complete scan clears it.
  auto again = ReceiptMac();
  again.set_incomplete(false);
  again.clear_probes();
  again.clear_warnings();
  ASSERT_TRUE(streams_[2]->Send(again));
  Outcome after = Ksweep({"host", "mac-studio-3"});
  ASSERT_EQ(after.code, 0) << Describe(after);
  EXPECT_NE(after.out.find("Verdict       REMNANT\n"), std::string::npos) << after.out;
  EXPECT_EQ(after.out.find("Failed probes"), std::string::npos) << after.out;
}

TEST_F(CliPlatformTest, ScanByPlatformReachesOnlyThoseAgents) {
  Outcome scan = Ksweep({"scan", "--platform", "macos", "-o", "json", "--reason", "platform test"});
  ASSERT_EQ(scan.code, 0) << Describe(scan);
  const auto r = ParseJson<v1::RequestScanResponse>(scan.out);
  EXPECT_EQ(std::vector<std::string>(r.requested().begin(), r.requested().end()),
            std::vector<std::string>{ReceiptMac().host().host_id()});
  // The Mac's stream gets the ScanNow (read while it waits for its next ack); the Windows streams get none.
  ASSERT_TRUE(streams_[2]->Send(ReceiptMac()));
  EXPECT_EQ(streams_[2]->scan_requests(), 1);
  ASSERT_TRUE(streams_[0]->Send(KesDesktop()));
  EXPECT_EQ(streams_[0]->scan_requests(), 0);
}

TEST_F(CliPlatformTest, PythonExamplePrintsAndFiltersThePlatform) {
  if (RunCommand({kPython, "-c", "import grpc, google.protobuf"}, tmp_.path()).code != 0) {
    GTEST_SKIP() << kPython << " has no grpc module (scripts/setup.sh installs python3-grpcio)";
  }
  const std::string script = std::string(KSWEEP_SOURCE_DIR) + "/examples/python/list_running.py";
  const std::string stubs = std::string(KSWEEP_BINARY_DIR) + "/python";
  Outcome r = RunCommand({kPython, script, "--server", fleet_->api_address(), "--stubs", stubs, "--insecure",
                          "--verdict", "installed", "--platform", "windows,macos"},
                         tmp_.path());
  ASSERT_EQ(r.code, 0) << Describe(r);
  const auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_TRUE(lines[0].starts_with("DESK-0042\t" + KesDesktop().host().host_id() + "\tkes\twindows\t")) << lines[0];
  EXPECT_TRUE(lines[1].starts_with("DESK-0077\t" + UltraAvDesktop().host().host_id() + "\tultraav,kaspersky-traces\t"
                                   "windows\t"))
      << lines[1];
  Outcome bad = RunCommand({kPython, script, "--server", fleet_->api_address(), "--stubs", stubs, "--insecure",
                            "--platform", "beos"},
                           tmp_.path());
  EXPECT_EQ(bad.code, 2) << Describe(bad);
  EXPECT_NE(bad.err.find("unknown platform 'beos'"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace ksweep::cli_test
