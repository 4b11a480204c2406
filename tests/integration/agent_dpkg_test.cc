// `ksweep-agent scan` over dpkg databases made by the real dpkg: packages named like Kaspersky's are installed,
// held, left unpacked or half-configured, removed (config-files) and purged, and the report must say each state.
#include <gtest/gtest.h>
#include <google/protobuf/util/message_differencer.h>

#include <memory>

#include "agent/probe_registry.h"
#include "agent/scan.h"
#include "common/logging.h"
#include "common/rules.h"
#include "tests/integration/test_util.h"

namespace ksweep::test {
namespace {

class AgentDpkgTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    debs_ = std::make_unique<TempDir>("debs");
    const ProcessResult r = RunProcess({"/bin/sh", DebFixtureScript(), "products", debs_->path()}, RunOptions::WithDeadline(std::chrono::minutes(3)));
    build_error_ = r.Exited(0) ? "" : "make_deb_fixture.sh products: " + r.Describe();
  }
  static void TearDownTestSuite() { debs_.reset(); }

  void SetUp() override { ASSERT_EQ(build_error_, ""); }

  static std::string Deb(const std::string& name) { return debs_->path() + "/" + name + ".deb"; }

  // The real dpkg on the fixture root; `want_exit` is what dpkg itself must return.
  void Dpkg(const std::vector<std::string>& args, int want_exit = 0, const std::string& input = "") {
    std::vector<std::string> argv = {"/bin/sh", DebFixtureScript(), "dpkg", root_.path()};
    argv.insert(argv.end(), args.begin(), args.end());
    RunOptions options;
    options.deadline = std::chrono::minutes(2);
    options.stdin_data = input;
    const ProcessResult r = RunProcess(argv, options);
    ASSERT_TRUE(r.Exited(want_exit)) << "dpkg " << testing::PrintToString(args) << ": " << r.Describe();
  }

  // The Status line dpkg wrote for `package`, "" when the package is not in the database.
  std::string DpkgStatusOf(const std::string& package) const {
    const std::string db = ReadFile(root_.Sub("var/lib/dpkg/status"));
    const std::string head = "Package: " + package + "\n";
    size_t at = db.rfind(head, 0) == 0 ? 0 : db.find("\n" + head);
    if (at == std::string::npos) return "";
    if (at != 0) ++at;
    const size_t end = db.find("\n\n", at);
    const std::string stanza = db.substr(at, end == std::string::npos ? std::string::npos : end - at);
    const size_t s = stanza.find("\nStatus: ");
    if (s == std::string::npos) return "";
    return stanza.substr(s + 9, stanza.find('\n', s + 1) - s - 9);
  }

  AgentScan Scan(const std::vector<std::string>& extra = {}) const { return ScanRoot(root_.path(), extra); }

  static void ExpectPackageEvidence(const v1::Finding& f, const std::string& package, const std::string& status,
                                    v1::ProductState implies) {
    const v1::Evidence* e = FindEvidence(f, v1::EVIDENCE_KIND_DPKG_PACKAGE);
    ASSERT_NE(e, nullptr) << f.DebugString();
    EXPECT_EQ(e->path(), "/var/lib/dpkg/status");
    EXPECT_NE(e->detail().find("package " + package), std::string::npos) << e->detail();
    EXPECT_NE(e->detail().find("'" + status + "'"), std::string::npos) << e->detail();
    EXPECT_EQ(e->strength(), v1::STRENGTH_STRONG);
    EXPECT_EQ(e->implies(), implies);
  }

  static std::unique_ptr<TempDir> debs_;
  static std::string build_error_;
  TempDir root_{"dpkg-root"};
};

std::unique_ptr<TempDir> AgentDpkgTest::debs_;
std::string AgentDpkgTest::build_error_;

TEST_F(AgentDpkgTest, InstalledPackagesAreReportedWithVersionAndEvidence) {
  Dpkg({"-i", Deb("kesl"), Deb("klnagent64"), Deb("kess"), Deb("kav4fs"), Deb("kl-fixture-extra"), Deb("keslint")});
  ASSERT_EQ(DpkgStatusOf("kesl"), "install ok installed");

  const AgentScan scan = Scan();
  ASSERT_TRUE(scan.process.Exited(0)) << scan.process.Describe();
  ASSERT_TRUE(scan.parsed) << scan.parse_error;
  const v1::HostReport& report = scan.report;
  EXPECT_EQ(report.verdict(), v1::VERDICT_INSTALLED);
  EXPECT_EQ(report.host().root(), root_.path());
  EXPECT_EQ(report.findings_size(), 5) << FindingIds(report);
  const v1::ProbeRun* dpkg = FindProbe(report, "dpkg");
  ASSERT_NE(dpkg, nullptr);
  EXPECT_EQ(dpkg->state(), v1::PROBE_STATE_OK);
  EXPECT_EQ(dpkg->items(), 6);

  const struct {
    const char* product;
    const char* package;
    const char* version;
    const char* binary;
  } want[] = {
      {"kesl", "kesl", "12.1.0.1234", "/opt/kaspersky/kesl/bin/kesl-control"},
      {"klnagent", "klnagent64", "15.1.0.20748", "/opt/kaspersky/klnagent64/bin/klnagchk"},
      {"kess", "kess", "3.3.0.2014", "/opt/kaspersky/kess/bin/kess-setup.pl"},
      {"kav4fs", "kav4fs", "8.0.4.312", "/opt/kaspersky/kav4fs/bin/kav4fs-control"},
  };
  for (const auto& w : want) {
    SCOPED_TRACE(w.product);
    const v1::Finding* f = FindFinding(report, w.product);
    ASSERT_NE(f, nullptr) << FindingIds(report);
    EXPECT_EQ(f->state(), v1::PRODUCT_STATE_INSTALLED);
    EXPECT_EQ(f->version(), w.version);
    EXPECT_FALSE(f->broken());
    EXPECT_EQ(f->vendor(), "Kaspersky");
    ExpectPackageEvidence(*f, w.package, "install ok installed", v1::PRODUCT_STATE_INSTALLED);
    // The strongest proof is listed first.
    EXPECT_EQ(f->evidence(0).kind(), v1::EVIDENCE_KIND_DPKG_PACKAGE);
    const v1::Evidence* bin = FindEvidence(*f, v1::EVIDENCE_KIND_BINARY);
    ASSERT_NE(bin, nullptr) << f->DebugString();
    EXPECT_EQ(bin->path(), w.binary);
    const std::string sum = Sha256Sum(root_.path() + w.binary);
    ASSERT_EQ(sum.size(), 64u);
    EXPECT_EQ(bin->sha256(), sum);
  }

  // A Kaspersky-maintained package no rule names is caught by the catch-all, not lost.
  const v1::Finding* extra = FindFinding(report, "kaspersky-package");
  ASSERT_NE(extra, nullptr) << FindingIds(report);
  EXPECT_EQ(extra->state(), v1::PRODUCT_STATE_INSTALLED);
  EXPECT_EQ(extra->version(), "1.0");
  ExpectPackageEvidence(*extra, "kl-fixture-extra", "install ok installed", v1::PRODUCT_STATE_INSTALLED);

  // The look-alike `keslint` from another vendor is installed but is nobody's evidence.
  for (const auto& f : report.findings()) {
    for (const auto& e : f.evidence()) EXPECT_EQ(e.detail().find("keslint"), std::string::npos) << e.detail();
  }

  const AgentScan gate = Scan({"--fail-on-detect"});
  EXPECT_TRUE(gate.process.Exited(3)) << gate.process.Describe();
  ASSERT_TRUE(gate.parsed) << gate.parse_error;
  EXPECT_EQ(gate.report.verdict(), v1::VERDICT_INSTALLED);

  // The table for people names the products, their state and version.
  const ProcessResult table = RunProcess({AgentBinary(), "scan", "--root", root_.path()});
  ASSERT_TRUE(table.Exited(0)) << table.Describe();
  EXPECT_NE(table.out.find("Verdict  INSTALLED"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("12.1.0.1234"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("klnagent"), std::string::npos) << table.out;
}

TEST_F(AgentDpkgTest, RemovedIsRemnantAndPurgedIsGone) {
  Dpkg({"-i", Deb("klnagent64"), Deb("kess"), Deb("kav4fs")});
  Dpkg({"-r", "kess"});
  Dpkg({"-P", "kav4fs"});
  ASSERT_EQ(DpkgStatusOf("kess"), "deinstall ok config-files");
  ASSERT_EQ(DpkgStatusOf("kav4fs"), "");
  ASSERT_EQ(DpkgStatusOf("klnagent64"), "install ok installed");

  {
    const AgentScan scan = Scan();
    ASSERT_TRUE(scan.process.Exited(0)) << scan.process.Describe();
    ASSERT_TRUE(scan.parsed) << scan.parse_error;
    EXPECT_EQ(scan.report.verdict(), v1::VERDICT_INSTALLED);
    EXPECT_EQ(scan.report.findings_size(), 2) << FindingIds(scan.report);
    EXPECT_EQ(FindFinding(scan.report, "kav4fs"), nullptr) << FindingIds(scan.report);
    const v1::Finding* agent = FindFinding(scan.report, "klnagent");
    ASSERT_NE(agent, nullptr) << FindingIds(scan.report);
    EXPECT_EQ(agent->state(), v1::PRODUCT_STATE_INSTALLED);
    const v1::Finding* kess = FindFinding(scan.report, "kess");
    ASSERT_NE(kess, nullptr) << FindingIds(scan.report);
    EXPECT_EQ(kess->state(), v1::PRODUCT_STATE_REMNANT);
    EXPECT_EQ(kess->version(), "3.3.0.2014");
    ExpectPackageEvidence(*kess, "kess", "deinstall ok config-files", v1::PRODUCT_STATE_REMNANT);
    // dpkg -r took the binaries away.
    EXPECT_EQ(FindEvidence(*kess, v1::EVIDENCE_KIND_BINARY), nullptr) << kess->DebugString();
  }

  // Remnants only: a finding, but nothing for --fail-on-detect to fail on.
  Dpkg({"-r", "klnagent64"});
  ASSERT_EQ(DpkgStatusOf("klnagent64"), "deinstall ok config-files");
  {
    const AgentScan scan = Scan({"--fail-on-detect"});
    ASSERT_TRUE(scan.process.Exited(0)) << scan.process.Describe();
    ASSERT_TRUE(scan.parsed) << scan.parse_error;
    EXPECT_EQ(scan.report.verdict(), v1::VERDICT_REMNANT);
    EXPECT_EQ(scan.report.findings_size(), 2) << FindingIds(scan.report);
    for (const char* id : {"klnagent", "kess"}) {
      const v1::Finding* f = FindFinding(scan.report, id);
      ASSERT_NE(f, nullptr) << id << ": " << FindingIds(scan.report);
      EXPECT_EQ(f->state(), v1::PRODUCT_STATE_REMNANT) << id;
    }
    ExpectPackageEvidence(*FindFinding(scan.report, "klnagent"), "klnagent64", "deinstall ok config-files",
                          v1::PRODUCT_STATE_REMNANT);
    EXPECT_NE(scan.process.out.find("\"VERDICT_REMNANT\""), std::string::npos);
  }

  // Everything purged: nothing left, and the verdict is still printed.
  Dpkg({"-P", "kess", "klnagent64"});
  {
    const AgentScan scan = Scan({"--fail-on-detect"});
    ASSERT_TRUE(scan.process.Exited(0)) << scan.process.Describe();
    ASSERT_TRUE(scan.parsed) << scan.parse_error;
    EXPECT_EQ(scan.report.verdict(), v1::VERDICT_CLEAN) << FindingIds(scan.report);
    EXPECT_EQ(scan.report.findings_size(), 0) << FindingIds(scan.report);
    EXPECT_NE(scan.process.out.find("\"verdict\": \"VERDICT_CLEAN\""), std::string::npos) << scan.process.out;
  }
}

TEST_F(AgentDpkgTest, HeldPackageIsInstalled) {
  Dpkg({"-i", Deb("kesl")});
  Dpkg({"--set-selections"}, 0, "kesl hold\n");
  ASSERT_EQ(DpkgStatusOf("kesl"), "hold ok installed");

  const AgentScan scan = Scan({"--fail-on-detect"});
  EXPECT_TRUE(scan.process.Exited(3)) << scan.process.Describe();
  ASSERT_TRUE(scan.parsed) << scan.parse_error;
  EXPECT_EQ(scan.report.verdict(), v1::VERDICT_INSTALLED);
  const v1::Finding* f = FindFinding(scan.report, "kesl");
  ASSERT_NE(f, nullptr) << FindingIds(scan.report);
  EXPECT_EQ(f->state(), v1::PRODUCT_STATE_INSTALLED);
  EXPECT_EQ(f->version(), "12.1.0.1234");
  EXPECT_FALSE(f->broken());
  ExpectPackageEvidence(*f, "kesl", "hold ok installed", v1::PRODUCT_STATE_INSTALLED);
}

TEST_F(AgentDpkgTest, UnpackedAndHalfConfiguredAreInstalledButBroken) {
  Dpkg({"-i", Deb("kesl")});
  Dpkg({"--unpack", Deb("kess")});
  // kics's postinst exits 1: dpkg itself fails and leaves the package half-configured.
  Dpkg({"-i", Deb("kics")}, 1);
  ASSERT_EQ(DpkgStatusOf("kess"), "install ok unpacked");
  ASSERT_EQ(DpkgStatusOf("kics"), "install ok half-configured");

  const AgentScan scan = Scan({"--fail-on-detect"});
  EXPECT_TRUE(scan.process.Exited(3)) << scan.process.Describe();
  ASSERT_TRUE(scan.parsed) << scan.parse_error;
  EXPECT_EQ(scan.report.verdict(), v1::VERDICT_INSTALLED);
  EXPECT_EQ(scan.report.findings_size(), 3) << FindingIds(scan.report);

  const v1::Finding* kess = FindFinding(scan.report, "kess");
  ASSERT_NE(kess, nullptr) << FindingIds(scan.report);
  EXPECT_EQ(kess->state(), v1::PRODUCT_STATE_INSTALLED);
  EXPECT_TRUE(kess->broken());
  EXPECT_EQ(kess->version(), "3.3.0.2014");
  ExpectPackageEvidence(*kess, "kess", "install ok unpacked", v1::PRODUCT_STATE_INSTALLED);

  const v1::Finding* kics = FindFinding(scan.report, "kics");
  ASSERT_NE(kics, nullptr) << FindingIds(scan.report);
  EXPECT_EQ(kics->state(), v1::PRODUCT_STATE_INSTALLED);
  EXPECT_TRUE(kics->broken());
  EXPECT_EQ(kics->version(), "1.3.0.101");
  ExpectPackageEvidence(*kics, "kics", "install ok half-configured", v1::PRODUCT_STATE_INSTALLED);

  const v1::Finding* kesl = FindFinding(scan.report, "kesl");
  ASSERT_NE(kesl, nullptr) << FindingIds(scan.report);
  EXPECT_FALSE(kesl->broken());
}

// The library and the binary are one scan: same findings, same verdict, over the same root.
TEST_F(AgentDpkgTest, LibraryScanAgreesWithTheBinary) {
  Dpkg({"-i", Deb("kesl"), Deb("klnagent64"), Deb("kess")});
  Dpkg({"-r", "kess"});

  const AgentScan cli = Scan();
  ASSERT_TRUE(cli.process.Exited(0)) << cli.process.Describe();
  ASSERT_TRUE(cli.parsed) << cli.parse_error;

  auto rules = BuiltinRules();
  ASSERT_TRUE(rules.ok()) << rules.status().message();
  agent::ProbeRegistry registry;
  agent::RegisterBuiltinProbes(registry);
  agent::ScanOptions options;
  options.root = root_.path();
  auto lib = agent::Scan(options, *rules, registry, NullLogger());
  ASSERT_TRUE(lib.ok()) << lib.status().message();

  EXPECT_EQ(lib->verdict(), cli.report.verdict());
  ASSERT_EQ(lib->findings_size(), cli.report.findings_size()) << FindingIds(*lib) << " vs " << FindingIds(cli.report);
  for (int i = 0; i < lib->findings_size(); ++i) {
    std::string diff;
    google::protobuf::util::MessageDifferencer differ;
    differ.ReportDifferencesToString(&diff);
    EXPECT_TRUE(differ.Compare(lib->findings(i), cli.report.findings(i))) << diff;
  }
  EXPECT_TRUE(agent::HasActiveFinding(*lib));
}

}  // namespace
}  // namespace ksweep::test
