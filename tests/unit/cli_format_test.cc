// The CLI's pure parts: argument parsing, name and time parsing, table/CSV/JSON rendering, error mapping.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include <sstream>

#include "cli/args.h"
#include "cli/client.h"
#include "cli/csv.h"
#include "cli/json.h"
#include "cli/names.h"
#include "cli/table.h"
#include "cli/times.h"
#include "cli/views.h"

namespace ksweep::cli {
namespace {

using google::protobuf::Timestamp;
using google::protobuf::util::TimeUtil;

Timestamp T(const std::string& rfc3339) {
  Timestamp t;
  EXPECT_TRUE(TimeUtil::FromString(rfc3339, &t)) << rfc3339;
  return t;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// ---- CSV ----

TEST(CsvTest, QuotesOnlyWhatRfc4180Requires) {
  EXPECT_EQ(CsvField("web-1"), "web-1");
  EXPECT_EQ(CsvField(""), "");
  EXPECT_EQ(CsvField("a b"), "a b");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(CsvField("cr\r"), "\"cr\r\"");
}

TEST(CsvTest, HeaderThenRowsPaddedToHeaderWidth) {
  Table t{{"a", "b", "c"}, {{"1", "x,y", "3"}, {"4"}}};
  EXPECT_EQ(RenderCsv(t), "a,b,c\n1,\"x,y\",3\n4,,\n");
}

// ---- tables ----

TEST(TableTest, AlignsColumnsWithoutTrailingSpaces) {
  Table t{{"NAME", "VERDICT"}, {{"web-1", "RUNNING"}, {"db-long-name", ""}}};
  EXPECT_EQ(RenderTable(t),
            "NAME          VERDICT\n"
            "web-1         RUNNING\n"
            "db-long-name\n");
}

TEST(TableTest, ACellOverTheColumnLimitOverflowsItsOwnRowOnly) {
  Table t{{"K", "WHERE", "WHAT"}, {{"a", "short", "x"}, {"b", std::string(30, 'w'), "y"}, {"c", "medium-ish", "z"}},
          {0, 12}};
  EXPECT_EQ(RenderTable(t),
            "K  WHERE       WHAT\n"
            "a  short       x\n"
            "b  " + std::string(30, 'w') + "  y\n"
            "c  medium-ish  z\n");
}

TEST(TableTest, CountsCharactersNotBytes) {
  Table t{{"H", "X"}, {{"h\xc3\xa9t\xc3\xa9", "1"}, {"abcd", "2"}}};  // "hété": 4 characters, 6 bytes
  const auto lines = Lines(RenderTable(t));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1], "h\xc3\xa9t\xc3\xa9  1");
  EXPECT_EQ(lines[2], "abcd  2");
}

TEST(TableTest, EscapesWhatWouldDriveTheTerminal) {
  EXPECT_EQ(TerminalSafe("evil\x1b[2Jhost"), "evil\\x1b[2Jhost");
  EXPECT_EQ(TerminalSafe("a\nb\tc\rd"), "a\\nb\\tc\\rd");
  EXPECT_EQ(TerminalSafe("del\x7f"), "del\\x7f");
  EXPECT_EQ(TerminalSafe("bad\xff utf8"), "bad\\xff utf8");
  EXPECT_EQ(TerminalSafe("c1 \xc2\x9b csi"), "c1 \\xc2\\x9b csi");    // U+009B: a one-byte CSI to some terminals
  EXPECT_EQ(TerminalSafe("overlong \xc0\xaf"), "overlong \\xc0\\xaf");
  EXPECT_EQ(TerminalSafe("cut \xe2\x82"), "cut \\xe2\\x82");
  EXPECT_EQ(TerminalSafe("ok \xe2\x82\xac \xf0\x9f\x98\x80"), "ok \xe2\x82\xac \xf0\x9f\x98\x80");
  Table t{{"H"}, {{"x\x1b]0;pwned\x07"}}};
  EXPECT_EQ(RenderTable(t), "H\nx\\x1b]0;pwned\\x07\n");
}

// ---- names ----

TEST(NamesTest, ShortNames) {
  EXPECT_EQ(ShortName(v1::VERDICT_RUNNING), "RUNNING");
  EXPECT_EQ(ShortName(v1::VERDICT_UNSPECIFIED), "");
  EXPECT_EQ(ShortName(v1::PRODUCT_STATE_REMNANT), "REMNANT");
  EXPECT_EQ(ShortName(v1::EVENT_TYPE_VERSION_CHANGED), "VERSION_CHANGED");
  EXPECT_EQ(ShortName(v1::EVIDENCE_KIND_DPKG_PACKAGE), "DPKG_PACKAGE");
}

TEST(NamesTest, VerdictListsAnyCaseDeduplicated) {
  auto v = ParseVerdicts("running, Installed,RUNNING,stale", "--verdict");
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(*v, (std::vector<v1::Verdict>{v1::VERDICT_RUNNING, v1::VERDICT_INSTALLED, v1::VERDICT_STALE}));
}

TEST(NamesTest, BadVerdictNamesFlagValueAndChoices) {
  for (const char* bad : {"runing", "running,", "", "unspecified", "verdict_running"}) {
    auto v = ParseVerdicts(bad, "--verdict");
    ASSERT_FALSE(v.ok()) << bad;
    EXPECT_EQ(v.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(v.status().message().find("--verdict"), std::string::npos);
    EXPECT_NE(v.status().message().find("running, stale"), std::string::npos) << v.status().message();
  }
}

TEST(NamesTest, EventTypesAcceptDashesOrUnderscores) {
  auto t = ParseEventTypes("detected,version-changed,WENT_STALE,came-back", "--type");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(*t, (std::vector<v1::EventType>{v1::EVENT_TYPE_DETECTED, v1::EVENT_TYPE_VERSION_CHANGED,
                                            v1::EVENT_TYPE_WENT_STALE, v1::EVENT_TYPE_CAME_BACK}));
  EXPECT_FALSE(ParseEventTypes("detect", "--type").ok());
}

TEST(NamesTest, PlatformListsAnyCaseDeduplicated) {
  auto p = ParsePlatforms("Windows, macos,WINDOWS,mac,linux", "--platform");
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(*p, (std::vector<v1::Platform>{v1::PLATFORM_WINDOWS, v1::PLATFORM_MACOS, v1::PLATFORM_LINUX}));
  for (const char* bad : {"win", "windows,", "", "unknown", "osx"}) {
    auto b = ParsePlatforms(bad, "--platform");
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_EQ(b.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(b.status().message().find("--platform: unknown value '"), std::string::npos) << b.status().message();
    EXPECT_NE(b.status().message().find("linux, windows, macos"), std::string::npos) << b.status().message();
  }
}

TEST(NamesTest, HostOrder) {
  EXPECT_EQ(*ParseHostOrder("hostname", "--order"), v1::HOST_ORDER_HOSTNAME);
  EXPECT_EQ(*ParseHostOrder("last-seen", "--order"), v1::HOST_ORDER_LAST_SEEN);
  EXPECT_EQ(*ParseHostOrder("VERDICT", "--order"), v1::HOST_ORDER_VERDICT);
  auto bad = ParseHostOrder("age", "--order");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'age'"), std::string::npos);
}

// ---- times ----

TEST(TimesTest, Rfc3339DatesAndAges) {
  const Timestamp now = T("2026-05-10T12:00:00Z");
  EXPECT_EQ(ParseTime("2026-05-01T10:00:00Z", now, "--since")->seconds(), T("2026-05-01T10:00:00Z").seconds());
  EXPECT_EQ(ParseTime("2026-05-01T12:00:00+02:00", now, "--since")->seconds(), T("2026-05-01T10:00:00Z").seconds());
  EXPECT_EQ(ParseTime("2026-05-01T10:00:00.5Z", now, "--since")->nanos(), 500000000);
  EXPECT_EQ(ParseTime("2026-05-01", now, "--since")->seconds(), T("2026-05-01T00:00:00Z").seconds());
  EXPECT_EQ(ParseTime("90s", now, "--since")->seconds(), now.seconds() - 90);
  EXPECT_EQ(ParseTime("15m", now, "--since")->seconds(), now.seconds() - 900);
  EXPECT_EQ(ParseTime("24h", now, "--since")->seconds(), T("2026-05-09T12:00:00Z").seconds());
  EXPECT_EQ(ParseTime("7d", now, "--since")->seconds(), T("2026-05-03T12:00:00Z").seconds());
  EXPECT_EQ(ParseTime("2w", now, "--since")->seconds(), T("2026-04-26T12:00:00Z").seconds());
}

TEST(TimesTest, BadTimesNameTheFlag) {
  const Timestamp now = T("2026-05-10T12:00:00Z");
  for (const char* bad : {"", "yesterday", "2026-13-01", "2026-05-01 10:00", "5", "5y", "-5m", "99999999999d"}) {
    auto t = ParseTime(bad, now, "--seen-after");
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_NE(t.status().message().find("--seen-after"), std::string::npos) << t.status().message();
  }
}

TEST(TimesTest, Durations) {
  EXPECT_EQ(ParseDuration("10", "--timeout")->count(), 10000);
  EXPECT_EQ(ParseDuration("2.5", "--timeout")->count(), 2500);
  EXPECT_EQ(ParseDuration("2.5s", "--timeout")->count(), 2500);
  EXPECT_EQ(ParseDuration("500ms", "--timeout")->count(), 500);
  EXPECT_EQ(ParseDuration("2m", "--timeout")->count(), 120000);
  for (const char* bad : {"", "0", "0.0001", "abc", "10x", "-1", "1e3", ".", "inf", "1.2.3"}) {
    EXPECT_FALSE(ParseDuration(bad, "--timeout").ok()) << bad;
  }
}

TEST(TimesTest, Formats) {
  EXPECT_EQ(FormatTimeShort(T("2026-05-01T10:00:00.123Z")), "2026-05-01T10:00:00Z");
  EXPECT_EQ(FormatTimeFull(T("2026-05-01T10:00:00.123Z")), "2026-05-01T10:00:00.123Z");
  EXPECT_EQ(FormatTimeShort(Timestamp()), "");
  EXPECT_EQ(FormatTimeFull(Timestamp()), "");
}

// ---- views ----

v1::ListHostsResponse SampleHosts() {
  v1::ListHostsResponse r;
  auto* a = r.add_hosts();
  a->set_host_id("0123456789abcdef0123456789abcdef");
  a->set_hostname("web-1");
  a->mutable_os()->set_id("debian");
  a->mutable_os()->set_version_id("12");
  a->mutable_os()->set_pretty_name("Debian GNU/Linux 12 (bookworm)");
  a->set_verdict(v1::VERDICT_RUNNING);
  a->add_products("kesl");
  a->add_products("klnagent");
  *a->mutable_last_seen() = T("2026-05-01T10:00:00Z");
  *a->mutable_first_seen() = T("2026-04-01T10:00:00Z");
  a->add_labels("prod");
  a->add_labels("eu, west");
  a->set_connected(true);
  a->set_last_sequence(7);
  a->set_platform(v1::PLATFORM_LINUX);
  auto* b = r.add_hosts();
  b->set_host_id("fedcba98765432100123456789abcdef");
  b->set_hostname("db \"primary\"");
  b->set_verdict(v1::VERDICT_CLEAN);
  r.set_total_size(2);
  return r;
}

TEST(ViewsTest, HostsJsonParsesBackToTheSameMessage) {
  const auto r = SampleHosts();
  const std::string json = FormatHosts(r, OutputFormat::kJson);
  v1::ListHostsResponse back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &back).ok()) << json;
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(r, back));
  EXPECT_NE(json.find("\"verdict\": \"VERDICT_RUNNING\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"connected\": false"), std::string::npos) << "defaults are printed too:\n" << json;
  EXPECT_NE(json.find("\"nextPageToken\": \"\""), std::string::npos) << json;
}

TEST(ViewsTest, HostsCsvHeaderAndQuotedRows) {
  const auto lines = Lines(FormatHosts(SampleHosts(), OutputFormat::kCsv));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0],
            "host_id,hostname,verdict,products,os_id,os_version,os_name,first_seen,last_seen,connected,labels,"
            "agent_version,last_sequence,platform,incomplete");
  EXPECT_EQ(lines[1],
            "0123456789abcdef0123456789abcdef,web-1,RUNNING,kesl;klnagent,debian,12,Debian GNU/Linux 12 (bookworm),"
            "2026-04-01T10:00:00Z,2026-05-01T10:00:00Z,true,\"prod;eu, west\",,7,linux,false");
  // A collector from before platforms sends none: the column stays empty rather than guessing.
  EXPECT_EQ(lines[2], "fedcba98765432100123456789abcdef,\"db \"\"primary\"\"\",CLEAN,,,,,,,false,,,0,,false");
}

TEST(ViewsTest, HostsTable) {
  const auto lines = Lines(FormatHosts(SampleHosts(), OutputFormat::kTable));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].substr(0, 8), "HOSTNAME");
  EXPECT_NE(lines[1].find("web-1"), std::string::npos);
  EXPECT_NE(lines[1].find("RUNNING"), std::string::npos);
  EXPECT_NE(lines[1].find("kesl,klnagent"), std::string::npos);
  EXPECT_NE(lines[1].find("debian 12"), std::string::npos);
  EXPECT_NE(lines[1].find("2026-05-01T10:00:00Z"), std::string::npos);
  EXPECT_NE(lines[0].find("PRODUCTS       PLATFORM  OS"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("kesl,klnagent  Linux     debian 12"), std::string::npos) << lines[1];
  EXPECT_EQ(FormatHosts(v1::ListHostsResponse(), OutputFormat::kTable), "No hosts match.\n");
  EXPECT_EQ(Lines(FormatHosts(v1::ListHostsResponse(), OutputFormat::kCsv)).size(), 1u) << "header only";
}

v1::Summary SampleSummary() {
  v1::Summary s;
  s.set_total_hosts(4);
  s.set_affected_hosts(2);
  s.set_stale_hosts(1);
  auto add = [](google::protobuf::RepeatedPtrField<v1::Count>* counts, const char* key, const char* label,
                int64_t n) {
    auto* c = counts->Add();
    c->set_key(key);
    c->set_label(label);
    c->set_hosts(n);
  };
  add(s.mutable_by_verdict(), "RUNNING", "", 1);
  add(s.mutable_by_verdict(), "CLEAN", "", 2);
  add(s.mutable_by_product(), "kesl", "Kaspersky Endpoint Security for Linux", 1);
  add(s.mutable_by_os(), "debian 12", "", 4);
  add(s.mutable_by_platform(), "linux", "Linux", 3);
  add(s.mutable_by_platform(), "windows", "Windows", 1);
  *s.mutable_as_of() = T("2026-05-01T10:00:00Z");
  return s;
}

TEST(ViewsTest, SummaryForms) {
  const std::string table = FormatSummary(SampleSummary(), OutputFormat::kTable);
  EXPECT_EQ(Lines(table)[0], "Hosts: 4 total, 2 affected (running or installed), 1 stale, as of 2026-05-01T10:00:00Z");
  EXPECT_NE(table.find("kesl     Kaspersky Endpoint Security for Linux  1"), std::string::npos) << table;
  EXPECT_NE(table.find("\nPLATFORM  HOSTS\nLinux     3\nWindows   1\n"), std::string::npos) << table;
  const auto csv = Lines(FormatSummary(SampleSummary(), OutputFormat::kCsv));
  EXPECT_EQ(csv, (std::vector<std::string>{"section,key,label,hosts", "total,,,4",
                                           "affected,,\"running or installed, not stale\",2", "stale,,,1",
                                           "verdict,RUNNING,,1", "verdict,CLEAN,,2",
                                           "product,kesl,Kaspersky Endpoint Security for Linux,1",
                                           "os,debian 12,,4", "platform,linux,Linux,3",
                                           "platform,windows,Windows,1"}));
  v1::Summary back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(FormatSummary(SampleSummary(), OutputFormat::kJson), &back)
                  .ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(SampleSummary(), back));
}

v1::Host SampleHost() {
  v1::Host h;
  *h.mutable_summary() = SampleHosts().hosts(0);
  h.mutable_facts()->set_host_id(h.summary().host_id());
  h.mutable_facts()->set_hostname("web-1");
  h.mutable_facts()->set_root("/srv/roots/web-1");
  h.mutable_facts()->set_kernel("6.1.0-18-amd64");
  h.mutable_facts()->set_arch("x86_64");
  *h.mutable_facts()->mutable_os() = h.summary().os();
  auto* f = h.add_findings();
  f->set_product_id("kesl");
  f->set_product_name("Kaspersky Endpoint Security for Linux");
  f->set_state(v1::PRODUCT_STATE_RUNNING);
  f->set_version("12.1.0.1297");
  auto* e = f->add_evidence();
  e->set_kind(v1::EVIDENCE_KIND_DPKG_PACKAGE);
  e->set_detail("dpkg package kesl 12.1.0.1297 status 'install ok installed'");
  e->set_path("/var/lib/dpkg/status");
  e->set_implies(v1::PRODUCT_STATE_INSTALLED);
  e = f->add_evidence();
  e->set_kind(v1::EVIDENCE_KIND_PROCESS);
  e->set_detail("process kesl pid 42");
  e->set_path("/proc/42");
  e->set_pid(42);
  e->set_implies(v1::PRODUCT_STATE_RUNNING);
  auto* ev = h.add_history();
  ev->set_id(3);
  ev->set_type(v1::EVENT_TYPE_DETECTED);
  ev->set_product_id("kesl");
  ev->set_new_state(v1::PRODUCT_STATE_RUNNING);
  ev->set_new_version("12.1.0.1297");
  *ev->mutable_time() = T("2026-04-01T10:00:00Z");
  return h;
}

TEST(ViewsTest, HostTableShowsFactsEvidenceHistory) {
  const std::string text = FormatHost(SampleHost(), OutputFormat::kTable);
  EXPECT_NE(text.find("Host          web-1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Verdict       RUNNING\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Debian GNU/Linux 12 (bookworm) (debian 12)"), std::string::npos) << text;
  EXPECT_NE(text.find("Kernel        6.1.0-18-amd64 x86_64\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  kesl  Kaspersky Endpoint Security for Linux  RUNNING  12.1.0.1297\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("DPKG_PACKAGE  dpkg package kesl 12.1.0.1297 status 'install ok installed'  /var/lib/dpkg/status"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("PROCESS       process kesl pid 42"), std::string::npos) << text;
  EXPECT_NE(text.find("3   2026-04-01T10:00:00Z  DETECTED  kesl     RUNNING, 12.1.0.1297"), std::string::npos) << text;
  v1::Host empty;
  empty.mutable_summary()->set_hostname("clean-1");
  const std::string clean = FormatHost(empty, OutputFormat::kTable);
  EXPECT_NE(clean.find("Findings: none"), std::string::npos) << clean;
  EXPECT_NE(clean.find("History (newest first): none"), std::string::npos) << clean;
}

TEST(ViewsTest, HostCsvOneRowPerEvidence) {
  const auto lines = Lines(FormatHost(SampleHost(), OutputFormat::kCsv));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0],
            "host_id,hostname,verdict,product_id,product_name,state,version,broken,evidence_kind,evidence_detail,"
            "evidence_path,evidence_implies,sha256,pid,evidence_name,evidence_version,evidence_publisher,note,platform,"
            "incomplete");
  EXPECT_EQ(lines[1],
            "0123456789abcdef0123456789abcdef,web-1,RUNNING,kesl,Kaspersky Endpoint Security for Linux,RUNNING,"
            "12.1.0.1297,false,DPKG_PACKAGE,dpkg package kesl 12.1.0.1297 status 'install ok installed',"
            "/var/lib/dpkg/status,INSTALLED,,,,,,,linux,false");
  EXPECT_TRUE(lines[2].ends_with(",false,PROCESS,process kesl pid 42,/proc/42,RUNNING,,42,,,,,linux,false"))
      << lines[2];
}

// A Windows host as the collector answers for it: Uninstall entries, a service and a driver, a successor's note, a
// scan that could not read one hive.
v1::Host SampleWindowsHost() {
  v1::Host h;
  auto* s = h.mutable_summary();
  s->set_host_id("5f1c0de5f1c0de5f1c0de5f1c0de5f1c");
  s->set_hostname("DESK-0042");
  s->set_platform(v1::PLATFORM_WINDOWS);
  s->set_verdict(v1::VERDICT_INSTALLED);
  s->set_incomplete(true);
  s->mutable_os()->set_id("windows");
  s->mutable_os()->set_version_id("10.0.19045");
  auto* facts = h.mutable_facts();
  facts->set_hostname("DESK-0042");
  facts->set_platform(v1::PLATFORM_WINDOWS);
  *facts->mutable_os() = s->os();
  facts->mutable_os()->set_pretty_name("Windows 10 Pro");
  facts->set_root("/mnt/desk-0042");
  facts->set_arch("x86_64");
  auto* failed = h.add_failed_probes();
  failed->set_name("windows_drivers");
  failed->set_state(v1::PROBE_STATE_FAILED);
  failed->set_message("hive 'Windows/System32/config/SYSTEM': not a registry hive (bad magic)");

  auto* kes = h.add_findings();
  kes->set_product_id("kes-win");
  kes->set_product_name("Kaspersky Endpoint Security for Windows");
  kes->set_state(v1::PRODUCT_STATE_INSTALLED);
  kes->set_version("11.11.0.452");
  auto* e = kes->add_evidence();
  e->set_kind(v1::EVIDENCE_KIND_INSTALLED_PROGRAM);
  e->set_path(R"(HKLM\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\{9A017CE2-1A33-4EB5-8B14-9F1A2B3C4D5E})");
  e->set_name("Kaspersky Endpoint Security for Windows");
  e->set_version("11.11.0.452");
  e->set_publisher("AO Kaspersky Lab");
  e->set_detail("Uninstall entry 'Kaspersky Endpoint Security for Windows' 11.11.0.452");
  e->set_implies(v1::PRODUCT_STATE_INSTALLED);
  e = kes->add_evidence();
  e->set_kind(v1::EVIDENCE_KIND_WINDOWS_SERVICE);
  e->set_path(R"(HKLM\SYSTEM\CurrentControlSet\Services\AVP21.3)");
  e->set_name("AVP21.3");
  e->set_publisher("AO Kaspersky Lab");
  e->set_detail("service AVP21.3 (Start 2 auto), image avp.exe");
  e->set_implies(v1::PRODUCT_STATE_INSTALLED);
  e = kes->add_evidence();
  e->set_kind(v1::EVIDENCE_KIND_REGISTRY_KEY);
  e->set_path(R"(HKLM\SOFTWARE\WOW6432Node\KasperskyLab)");
  e->set_name(R"(HKLM\SOFTWARE\WOW6432Node\KasperskyLab)");
  e->set_detail("registry key present");
  e->set_implies(v1::PRODUCT_STATE_REMNANT);
  e = kes->add_evidence();
  e->set_kind(v1::EVIDENCE_KIND_PATH);
  e->set_path(R"(C:\Program Files (x86)\Kaspersky Lab\KES.11.11.0)");
  e->set_detail(R"(folder C:\Program Files (x86)\Kaspersky Lab\KES.11.11.0 exists)");

  auto* ultra = h.add_findings();
  ultra->set_product_id("ultraav");
  ultra->set_product_name("UltraAV");
  ultra->set_state(v1::PRODUCT_STATE_INSTALLED);
  ultra->set_version("6.0.1");
  ultra->set_note("migrated from Kaspersky");
  e = ultra->add_evidence();
  e->set_kind(v1::EVIDENCE_KIND_INSTALLED_PROGRAM);
  e->set_path(R"(HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\UltraAV)");
  e->set_name("UltraAV");
  e->set_version("6.0.1");
  e->set_publisher("Pango");
  return h;
}

TEST(ViewsTest, HostTableShowsWindowsRecordsNotesAndAnIncompleteScan) {
  const std::string text = FormatHost(SampleWindowsHost(), OutputFormat::kTable);
  EXPECT_NE(text.find("Platform      Windows\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Verdict       INSTALLED (incomplete: probe windows_drivers failed)\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("OS            Windows 10 Pro (windows 10.0.19045)\nArch          x86_64\n"), std::string::npos)
      << "no kernel read from a disk: the architecture alone\n"
      << text;
  EXPECT_NE(text.find("\nFailed probes (the verdict covers only what could be read)\n"
                      "  windows_drivers  hive 'Windows/System32/config/SYSTEM': not a registry hive (bad magic)\n"),
            std::string::npos)
      << text;
  const auto lines = Lines(text);
  auto line_with = [&](const std::string& needle) {
    for (const auto& l : lines) {
      if (l.find(needle) != std::string::npos) return l;
    }
    return std::string("(no line with ") + needle + ")";
  };
  // Where the record is, then what it says about itself.
  EXPECT_EQ(line_with("INSTALLED_PROGRAM  HKLM\\SOFTWARE\\WOW6432Node"),
            R"(    INSTALLED_PROGRAM  HKLM\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\{9A017CE2-1A33-4EB5-8B14-9F1A2B3C4D5E})"
            R"(  'Kaspersky Endpoint Security for Windows' 11.11.0.452, publisher 'AO Kaspersky Lab')");
  // The shorter cells line up (to the folder line, the widest under the limit); the Uninstall key overflows alone.
  // A service says more in the agent's line (start mode, image) than in its name and version.
  const std::string service_key = R"(HKLM\SYSTEM\CurrentControlSet\Services\AVP21.3)";
  const std::string folder_line = R"(folder C:\Program Files (x86)\Kaspersky Lab\KES.11.11.0 exists)";
  EXPECT_EQ(line_with("WINDOWS_SERVICE"), "    WINDOWS_SERVICE    " + service_key +
                                              std::string(folder_line.size() - service_key.size() + 2, ' ') +
                                              "service AVP21.3 (Start 2 auto), image avp.exe");
  // A key has nothing to say but that it is there: the agent's line, not the key twice.
  EXPECT_NE(line_with("REGISTRY_KEY").find(R"(KasperskyLab)" + std::string("  ")), std::string::npos) << text;
  EXPECT_TRUE(line_with("REGISTRY_KEY").ends_with("registry key present")) << text;
  EXPECT_EQ(line_with("REGISTRY_KEY").find("'HKLM"), std::string::npos) << text;
  // Other evidence as before: the agent's line, then the path.
  EXPECT_NE(line_with("    PATH").find("folder C:"), std::string::npos) << text;
  EXPECT_EQ(line_with("  ultraav  UltraAV"), "  ultraav  UltraAV  INSTALLED  6.0.1  (migrated from Kaspersky)");
  EXPECT_NE(line_with("Uninstall\\UltraAV").find("'UltraAV' 6.0.1, publisher 'Pango'"), std::string::npos) << text;
  // No failed probe, no line about one.
  auto whole = SampleWindowsHost();
  whole.mutable_summary()->set_incomplete(false);
  whole.clear_failed_probes();
  const std::string complete = FormatHost(whole, OutputFormat::kTable);
  EXPECT_NE(complete.find("Verdict       INSTALLED\n"), std::string::npos) << complete;
  EXPECT_EQ(complete.find("Failed probes"), std::string::npos) << complete;
}

TEST(ViewsTest, HostCsvCarriesRecordFieldsNoteAndPlatform) {
  const auto rows = Lines(FormatHost(SampleWindowsHost(), OutputFormat::kCsv));
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_TRUE(rows[1].ends_with(",Kaspersky Endpoint Security for Windows,11.11.0.452,AO Kaspersky Lab,,windows,true"))
      << rows[1];
  EXPECT_TRUE(rows[5].ends_with(",UltraAV,6.0.1,Pango,migrated from Kaspersky,windows,true")) << rows[5];
  const std::string json = FormatHost(SampleWindowsHost(), OutputFormat::kJson);
  EXPECT_NE(json.find("\"publisher\": \"AO Kaspersky Lab\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"note\": \"migrated from Kaspersky\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"platform\": \"PLATFORM_WINDOWS\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"failedProbes\""), std::string::npos) << json;
}

TEST(ViewsTest, HostsTableMarksAnIncompleteScan) {
  v1::ListHostsResponse r;
  auto* h = r.add_hosts();
  h->set_hostname("DESK-0042");
  h->set_verdict(v1::VERDICT_CLEAN);
  h->set_incomplete(true);
  h->set_platform(v1::PLATFORM_MACOS);
  const auto lines = Lines(FormatHosts(r, OutputFormat::kTable));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(lines[1].starts_with("DESK-0042  CLEAN (incomplete)            macOS")) << lines[1];
}

TEST(ViewsTest, EventChangesInAFewWords) {
  v1::Event e;
  e.set_new_state(v1::PRODUCT_STATE_INSTALLED);
  e.set_new_version("12.1");
  EXPECT_EQ(DescribeChange(e), "INSTALLED, 12.1");
  e.set_old_state(v1::PRODUCT_STATE_INSTALLED);
  e.set_new_state(v1::PRODUCT_STATE_REMNANT);
  e.clear_new_version();
  e.set_old_version("12.1");
  EXPECT_EQ(DescribeChange(e), "INSTALLED -> REMNANT, 12.1");
  e.clear_new_state();
  EXPECT_EQ(DescribeChange(e), "INSTALLED -> gone, 12.1");
  v1::Event v;
  v.set_old_state(v1::PRODUCT_STATE_RUNNING);
  v.set_new_state(v1::PRODUCT_STATE_RUNNING);
  v.set_old_version("12.1");
  v.set_new_version("12.2");
  EXPECT_EQ(DescribeChange(v), "RUNNING, 12.1 -> 12.2");
  EXPECT_EQ(DescribeChange(v1::Event()), "");
}

TEST(ViewsTest, EventLinesForStreams) {
  v1::Event e;
  e.set_id(12);
  e.set_type(v1::EVENT_TYPE_REMOVED);
  e.set_hostname("web-1");
  e.set_host_id("abc");
  e.set_product_id("kesl");
  e.set_old_state(v1::PRODUCT_STATE_INSTALLED);
  e.set_old_version("12.1");
  *e.mutable_time() = T("2026-05-01T10:00:00Z");
  EXPECT_EQ(FormatEventLine(e, OutputFormat::kTable), "12  2026-05-01T10:00:00Z  REMOVED  web-1  kesl  INSTALLED -> gone, 12.1\n");
  const std::string json = FormatEventLine(e, OutputFormat::kJson);
  EXPECT_EQ(json.find('\n'), json.size() - 1) << "one line: " << json;
  v1::Event back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &back).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(e, back));
  EXPECT_EQ(EventStreamHeader(OutputFormat::kCsv),
            "id,time,type,host_id,hostname,product_id,old_state,new_state,old_version,new_version,agent_time,sequence\n");
  EXPECT_EQ(EventStreamHeader(OutputFormat::kTable), "");
  EXPECT_EQ(FormatEventLine(e, OutputFormat::kCsv), "12,2026-05-01T10:00:00Z,REMOVED,abc,web-1,kesl,INSTALLED,,12.1,,,0\n");
}

TEST(ViewsTest, TrendAndScan) {
  v1::Trend trend;
  auto* p = trend.add_points();
  p->set_date("2026-05-01");
  p->set_affected_hosts(3);
  p->set_running(1);
  p->set_installed(2);
  p->set_clean(5);
  EXPECT_EQ(FormatTrend(trend, OutputFormat::kCsv),
            "date,affected_hosts,running,installed,remnant,clean\n2026-05-01,3,1,2,0,5\n");
  EXPECT_EQ(FormatTrend(trend, OutputFormat::kTable),
            "DATE        AFFECTED  RUNNING  INSTALLED  REMNANT  CLEAN\n2026-05-01  3         1        2          0        5\n");
  v1::RequestScanResponse scan;
  scan.add_requested("aaa");
  scan.add_not_connected("bbb");
  EXPECT_EQ(FormatScan(scan, OutputFormat::kCsv), "host_id,result\naaa,requested\nbbb,not_connected\n");
  EXPECT_EQ(Lines(FormatScan(scan, OutputFormat::kTable))[0],
            "Scan requested on 1 host(s); 1 selected host(s) not connected, skipped.");
}

// ---- arguments ----

Result<Invocation> Parse(std::vector<std::string> args, const char* env = nullptr) {
  return ParseArgs(args, env, T("2026-05-10T12:00:00Z"));
}

TEST(ArgsTest, ServerFromFlagThenEnvThenDefault) {
  EXPECT_EQ(Parse({"summary"})->global.server, "127.0.0.1:7444");
  EXPECT_EQ(Parse({"summary"}, "")->global.server, "127.0.0.1:7444");
  EXPECT_EQ(Parse({"summary"}, "fleet:9000")->global.server, "fleet:9000");
  EXPECT_EQ(Parse({"--server", "a:1", "summary"}, "fleet:9000")->global.server, "a:1");
  EXPECT_EQ(Parse({"summary", "--server=b:2"}, "fleet:9000")->global.server, "b:2") << "global options after the command";
  EXPECT_FALSE(Parse({"--server", "", "summary"}).ok());
}

TEST(ArgsTest, GlobalOptions) {
  auto inv = Parse({"-o", "json", "--timeout", "2.5s", "--insecure", "-v", "summary"});
  ASSERT_TRUE(inv.ok()) << inv.status().message();
  EXPECT_EQ(inv->command, Command::kSummary);
  EXPECT_EQ(inv->global.output, OutputFormat::kJson);
  EXPECT_EQ(inv->global.timeout.count(), 2500);
  EXPECT_TRUE(inv->global.insecure);
  EXPECT_TRUE(inv->global.verbose);
  EXPECT_EQ(Parse({"summary"})->global.timeout.count(), 10000);
  EXPECT_EQ(Parse({"hosts", "-o", "csv"})->global.output, OutputFormat::kCsv);
  auto bad = Parse({"-o", "yaml", "summary"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'yaml'"), std::string::npos);
  EXPECT_FALSE(Parse({"--timeout", "0", "summary"}).ok());
}

TEST(ArgsTest, UsageErrors) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{},
                                             {"frobnicate"},
                                             {"--bogus", "summary"},
                                             {"summary", "extra"},
                                             {"summary", "--verdict", "running"},
                                             {"hosts", "web-1"},
                                             {"hosts", "--page-size", "0"},
                                             {"hosts", "--page-size", "1001"},
                                             {"hosts", "--page-size", "many"},
                                             {"hosts", "--limit", "-1"},
                                             {"hosts", "--limit", "5", "--all"},
                                             {"hosts", "--order", "random"},
                                             {"hosts", "--hostname", ""},
                                             {"hosts", "--verdict", "running", "--verdict", "clean"},
                                             {"hosts", "--platform", "beos"},
                                             {"hosts", "--platform", "windows", "--platform", "linux"},
                                             {"summary", "--platform", "windows"},
                                             {"scan", "web-1", "--platform", "windows"},
                                             {"host"},
                                             {"host", "a", "b"},
                                             {"host", "a", "--history", "0"},
                                             {"events", "--after-id", "3"},
                                             {"events", "--follow", "--after-id", "3", "--since", "1h"},
                                             {"events", "--type", "exploded"},
                                             {"events", "--since", "last tuesday"},
                                             {"trend", "--days", "0"},
                                             {"trend", "--days", "3661"},
                                             {"scan"},
                                             {"scan", "web-1", "--verdict", "running"},
                                             {"scan", "web-1", "--all"},
                                             {"scan", "--all", "--filter", "os=debian"}}) {
    auto inv = Parse(args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    ASSERT_FALSE(inv.ok()) << "accepted: " << joined;
    EXPECT_EQ(inv.status().code(), Status::Code::kInvalidArgument) << joined;
    EXPECT_FALSE(inv.status().message().empty()) << joined;
    EXPECT_EQ(ExitCodeFor(inv.status()), kExitUsage);
  }
}

TEST(ArgsTest, HostsFiltersBecomeTheRequest) {
  auto inv = Parse({"hosts", "--verdict", "running,installed", "--platform", "windows,macos", "--product", "kesl",
                    "--version", "12.1", "--os",
                    "debian 12", "--hostname", "web-*", "--label", "prod", "--seen-after", "24h", "--seen-before",
                    "2026-05-10T00:00:00Z", "--filter", "os=debian hostname=w*", "--order", "last-seen",
                    "--page-size", "50", "--limit", "120", "--page-token", "tok"});
  ASSERT_TRUE(inv.ok()) << inv.status().message();
  ASSERT_EQ(inv->command, Command::kHosts);
  const auto& r = inv->hosts.request;
  ASSERT_EQ(r.filter().verdicts_size(), 2);
  EXPECT_EQ(r.filter().verdicts(0), v1::VERDICT_RUNNING);
  EXPECT_EQ(r.filter().verdicts(1), v1::VERDICT_INSTALLED);
  ASSERT_EQ(r.filter().platforms_size(), 2);
  EXPECT_EQ(r.filter().platforms(0), v1::PLATFORM_WINDOWS);
  EXPECT_EQ(r.filter().platforms(1), v1::PLATFORM_MACOS);
  EXPECT_EQ(r.filter().product_id(), "kesl");
  EXPECT_EQ(r.filter().version(), "12.1") << "--version after a command is the filter, not ksweep's version";
  EXPECT_EQ(r.filter().os(), "debian 12");
  EXPECT_EQ(r.filter().hostname_glob(), "web-*");
  EXPECT_EQ(r.filter().label(), "prod");
  EXPECT_EQ(r.filter().seen_after().seconds(), T("2026-05-09T12:00:00Z").seconds());
  EXPECT_EQ(r.filter().seen_before().seconds(), T("2026-05-10T00:00:00Z").seconds());
  EXPECT_EQ(r.filter().expr(), "os=debian hostname=w*");
  EXPECT_EQ(r.order_by(), v1::HOST_ORDER_LAST_SEEN);
  EXPECT_EQ(r.page_size(), 50);
  EXPECT_EQ(r.page_token(), "tok");
  EXPECT_EQ(inv->hosts.limit, 120);
}

TEST(ArgsTest, HostsPagingDefaults) {
  auto inv = Parse({"hosts"});
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->hosts.limit, kDefaultLimit);
  EXPECT_EQ(inv->hosts.request.page_size(), kDefaultPageSize);
  EXPECT_EQ(inv->hosts.request.order_by(), v1::HOST_ORDER_UNSPECIFIED);
  EXPECT_EQ(inv->hosts.request.filter().ByteSizeLong(), 0u);
  EXPECT_EQ(Parse({"hosts", "--all"})->hosts.limit, 0);
  EXPECT_EQ(Parse({"hosts", "--verdict=stale"})->hosts.request.filter().verdicts(0), v1::VERDICT_STALE);
}

TEST(ArgsTest, HostEventsTrendScan) {
  auto host = Parse({"host", "web-1", "--history", "5", "-o", "json"});
  ASSERT_TRUE(host.ok()) << host.status().message();
  EXPECT_EQ(host->command, Command::kHost);
  EXPECT_EQ(host->host.host(), "web-1");
  EXPECT_EQ(host->host.history_limit(), 5);

  auto events = Parse({"events", "--host", "web-1", "--type", "removed,detected", "--since", "1h"});
  ASSERT_TRUE(events.ok()) << events.status().message();
  EXPECT_EQ(events->events.request.host(), "web-1");
  EXPECT_EQ(events->events.request.types_size(), 2);
  EXPECT_EQ(events->events.request.since().seconds(), T("2026-05-10T11:00:00Z").seconds());
  EXPECT_FALSE(events->events.follow);
  EXPECT_TRUE(events->events.list_first);

  auto follow = Parse({"events", "-f", "--after-id", "41"});
  ASSERT_TRUE(follow.ok()) << follow.status().message();
  EXPECT_TRUE(follow->events.follow);
  EXPECT_FALSE(follow->events.list_first) << "follow alone streams new events only";
  EXPECT_EQ(follow->events.after_id, 41);
  auto follow_since = Parse({"events", "--follow", "--since", "2026-05-01"});
  ASSERT_TRUE(follow_since.ok());
  EXPECT_TRUE(follow_since->events.list_first);

  EXPECT_EQ(Parse({"trend"})->trend.days(), 30);
  EXPECT_EQ(Parse({"trend", "--days", "7"})->trend.days(), 7);

  auto scan_host = Parse({"scan", "web-1"});
  ASSERT_TRUE(scan_host.ok()) << scan_host.status().message();
  EXPECT_EQ(scan_host->scan.host(), "web-1");
  EXPECT_FALSE(scan_host->scan.has_filter());
  EXPECT_FALSE(scan_host->scan.reason().empty());
  auto scan_filter = Parse({"scan", "--filter", "verdict=running", "--reason", "audit"});
  ASSERT_TRUE(scan_filter.ok()) << scan_filter.status().message();
  EXPECT_EQ(scan_filter->scan.filter().expr(), "verdict=running");
  EXPECT_EQ(scan_filter->scan.reason(), "audit");
  auto scan_all = Parse({"scan", "--all"});
  ASSERT_TRUE(scan_all.ok());
  EXPECT_TRUE(scan_all->scan.host().empty());
  EXPECT_EQ(scan_all->scan.filter().ByteSizeLong(), 0u);
}

TEST(ArgsTest, HelpAndVersion) {
  EXPECT_EQ(Parse({"--help"})->command, Command::kHelp);
  EXPECT_NE(Parse({"--help"})->help.find("commands:"), std::string::npos);
  EXPECT_NE(Parse({"help"})->help.find("Exit codes"), std::string::npos);
  auto hosts_help = Parse({"hosts", "--help"});
  ASSERT_TRUE(hosts_help.ok());
  EXPECT_EQ(hosts_help->command, Command::kHelp);
  EXPECT_NE(hosts_help->help.find("--seen-after"), std::string::npos);
  EXPECT_EQ(Parse({"--version"})->command, Command::kVersion);
  EXPECT_EQ(Parse({"version"})->command, Command::kVersion);
}

// ---- errors ----

TEST(ErrorsTest, GrpcStatusesMapToExitCodesAndSayWhere) {
  const auto ms = std::chrono::milliseconds(10000);
  auto unavailable = FromGrpc(grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection refused"), "h:1", "GetSummary", ms);
  EXPECT_EQ(ExitCodeFor(unavailable), kExitUnreachable);
  EXPECT_NE(unavailable.message().find("h:1"), std::string::npos);
  EXPECT_NE(unavailable.message().find("connection refused"), std::string::npos);
  auto deadline = FromGrpc(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, ""), "h:1", "ListHosts", ms);
  EXPECT_EQ(ExitCodeFor(deadline), kExitUnreachable);
  EXPECT_NE(deadline.message().find("within 10 s"), std::string::npos) << deadline.message();
  auto invalid = FromGrpc(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "filter term 'x' ..."), "h:1", "ListHosts", ms);
  EXPECT_EQ(ExitCodeFor(invalid), kExitUsage);
  EXPECT_NE(invalid.message().find("filter term 'x' ..."), std::string::npos);
  EXPECT_EQ(ExitCodeFor(FromGrpc(grpc::Status(grpc::StatusCode::NOT_FOUND, "no host"), "h:1", "GetHost", ms)),
            kExitNotFound);
  auto internal = FromGrpc(grpc::Status(grpc::StatusCode::INTERNAL, "boom"), "h:1", "GetTrend", ms);
  EXPECT_EQ(ExitCodeFor(internal), kExitError);
  EXPECT_NE(internal.message().find("INTERNAL: boom"), std::string::npos) << internal.message();
  EXPECT_EQ(ExitCodeFor(FromGrpc(grpc::Status::OK, "h:1", "GetTrend", ms)), kExitOk);
}

}  // namespace
}  // namespace ksweep::cli
