// The ksweep CLI against a real collector fed by real agents scanning fixture roots, all on loopback; and the
// Python example against the same fleet. Every answer is checked in the form a person or script would use it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <set>

#include "tests/e2e/cli_fleet.h"

namespace ksweep::cli_test {
namespace {

constexpr const char* kPython = "/usr/bin/python3";

std::vector<std::string> Hostnames(const v1::ListHostsResponse& r) {
  std::vector<std::string> names;
  for (const auto& h : r.hosts()) names.push_back(h.hostname());
  return names;
}

std::string TodayUtc() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

// A TCP socket bound to 127.0.0.1 on a port the kernel picks, "127.0.0.1:PORT" in `address`; -1 when it cannot be.
int BindLoopback(std::string* address) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return -1;
  }
  *address = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  return fd;
}

// A loopback port nobody listens on: bound, then closed (the kernel does not hand it out again at once).
std::string ClosedPortAddress() {
  std::string address;
  const int fd = BindLoopback(&address);
  EXPECT_GE(fd, 0) << std::strerror(errno);
  if (fd >= 0) ::close(fd);
  return address;
}

// A fleet of four hosts on fixture roots: clean, kesl installed, the network agent installed, kesl remnants.
class CliFleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path roots = tmp_.path() / "roots";
    MakeRoot(roots / "clean", "cli-clean-1", 1, {{"bash", "5.2.15-2+b2"}, {"coreutils", "9.1-1"}});
    MakeRoot(roots / "kesl", "cli-kesl-1", 2, {{"bash", "5.2.15-2+b2"}, {"kesl", "12.1.0.1297"}});
    MakeRoot(roots / "nagent", "cli-nagent-1", 3, {{"klnagent64", "15.0.0.12345"}});
    MakeRoot(roots / "remnant", "cli-remnant-1", 4, {{"kesl", "11.0.0.100", "deinstall ok config-files"}});
    fleet_ = std::make_unique<Fleet>(tmp_.path() / "fleet");
    ASSERT_TRUE(fleet_->StartCollector());
    for (const char* name : {"clean", "kesl", "nagent", "remnant"}) fleet_->StartAgent(name, roots / name);
    ASSERT_TRUE(fleet_->WaitForSummary([](const v1::Summary& s) {
      return s.total_hosts() == 4 && Fleet::VerdictCount(s, "INSTALLED") == 2 &&
             Fleet::VerdictCount(s, "REMNANT") == 1 && Fleet::VerdictCount(s, "CLEAN") == 1;
    }));
  }

  void TearDown() override {
    if (HasFailure() && fleet_) std::cerr << fleet_->AgentLogs() << "\n";
    fleet_.reset();
  }

  Outcome Ksweep(std::vector<std::string> args) { return fleet_->Ksweep(std::move(args)); }

  v1::ListHostsResponse HostsJson(std::vector<std::string> args) {
    args.insert(args.begin(), "hosts");
    args.insert(args.end(), {"-o", "json"});
    Outcome r = Ksweep(args);
    EXPECT_EQ(r.code, 0) << Describe(r);
    return ParseJson<v1::ListHostsResponse>(r.out);
  }

  // `ksweep ARGS` (`-o csv` among them) as rows; a failed command fails the test and has no rows.
  std::vector<std::vector<std::string>> KsweepCsv(const std::vector<std::string>& args) {
    Outcome r = Ksweep(args);
    EXPECT_EQ(r.code, 0) << Describe(r);
    return r.code == 0 ? ParseCsv(r.out) : std::vector<std::vector<std::string>>{};
  }

  std::string HostId(const std::string& hostname) {
    auto r = HostsJson({"--hostname", hostname});
    EXPECT_EQ(r.hosts_size(), 1);
    return r.hosts_size() == 1 ? r.hosts(0).host_id() : "";
  }

  TempDir tmp_;
  std::unique_ptr<Fleet> fleet_;
};

TEST_F(CliFleetTest, SummaryInEveryForm) {
  Outcome table = Ksweep({"summary"});
  ASSERT_EQ(table.code, 0) << Describe(table);
  EXPECT_TRUE(table.out.starts_with("Hosts: 4 total, 2 affected (running or installed), 0 stale, as of "))
      << table.out;
  EXPECT_NE(table.out.find("INSTALLED  2"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("debian 12  4"), std::string::npos) << table.out;
  EXPECT_TRUE(table.err.empty()) << table.err;

  Outcome json = Ksweep({"summary", "-o", "json"});
  ASSERT_EQ(json.code, 0) << Describe(json);
  const auto s = ParseJson<v1::Summary>(json.out);
  EXPECT_EQ(s.total_hosts(), 4);
  EXPECT_EQ(s.affected_hosts(), 2);
  EXPECT_EQ(s.stale_hosts(), 0);
  EXPECT_EQ(Fleet::VerdictCount(s, "RUNNING"), 0);
  std::map<std::string, int64_t> products;
  for (const auto& c : s.by_product()) products[c.key()] = c.hosts();
  EXPECT_EQ(products["kesl"], 1) << "remnants do not count as installed";
  EXPECT_EQ(products["klnagent"], 1);

  const auto rows = KsweepCsv({"-o", "csv", "summary"});
  ASSERT_GE(rows.size(), 4u) << ::testing::PrintToString(rows);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"section", "key", "label", "hosts"}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"total", "", "", "4"}));
  bool found = false;
  for (const auto& row : rows) {
    ASSERT_EQ(row.size(), 4u) << ::testing::PrintToString(rows);
    if (row[0] == "product" && row[1] == "kesl") {
      EXPECT_EQ(row[2], "Kaspersky Endpoint Security for Linux");
      EXPECT_EQ(row[3], "1");
      found = true;
    }
  }
  EXPECT_TRUE(found) << ::testing::PrintToString(rows);
}

TEST_F(CliFleetTest, HostsInEveryForm) {
  Outcome table = Ksweep({"hosts"});
  ASSERT_EQ(table.code, 0) << Describe(table);
  auto lines = Lines(table.out);
  ASSERT_EQ(lines.size(), 5u) << table.out;
  EXPECT_TRUE(lines[0].starts_with("HOSTNAME")) << table.out;
  EXPECT_TRUE(lines[1].starts_with("cli-clean-1 ")) << "hostname order:\n" << table.out;
  EXPECT_TRUE(lines[2].starts_with("cli-kesl-1 ")) << table.out;
  EXPECT_NE(lines[2].find("INSTALLED"), std::string::npos) << table.out;
  EXPECT_NE(lines[2].find("kesl"), std::string::npos) << table.out;
  EXPECT_TRUE(lines[4].starts_with("cli-remnant-1 ")) << table.out;
  EXPECT_NE(lines[4].find("REMNANT"), std::string::npos) << table.out;

  const auto json = HostsJson({});
  EXPECT_EQ(Hostnames(json), (std::vector<std::string>{"cli-clean-1", "cli-kesl-1", "cli-nagent-1", "cli-remnant-1"}));
  EXPECT_EQ(json.total_size(), 4);
  EXPECT_TRUE(json.next_page_token().empty());
  for (const auto& h : json.hosts()) {
    EXPECT_EQ(h.host_id().size(), 32u) << h.hostname();
    EXPECT_TRUE(h.connected()) << h.hostname();
    EXPECT_EQ(h.os().id(), "debian");
  }
  EXPECT_EQ(json.hosts(1).verdict(), v1::VERDICT_INSTALLED);
  EXPECT_EQ(json.hosts(1).products(0), "kesl");

  const auto rows = KsweepCsv({"hosts", "-o", "csv"});
  ASSERT_EQ(rows.size(), 5u) << ::testing::PrintToString(rows);
  EXPECT_EQ(rows[0][0], "host_id");
  EXPECT_EQ(rows[0][1], "hostname");
  EXPECT_EQ(rows[0][2], "verdict");
  EXPECT_EQ(rows[0][3], "products");
  for (size_t i = 1; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].size(), rows[0].size()) << ::testing::PrintToString(rows);
    EXPECT_EQ(rows[i][0], json.hosts(static_cast<int>(i - 1)).host_id());
    EXPECT_EQ(rows[i][1], json.hosts(static_cast<int>(i - 1)).hostname());
  }
  EXPECT_EQ(rows[3][2], "INSTALLED");
  EXPECT_EQ(rows[3][3], "klnagent");
  EXPECT_EQ(rows[4][2], "REMNANT");
}

TEST_F(CliFleetTest, HostsFilters) {
  using V = std::vector<std::string>;
  EXPECT_EQ(Hostnames(HostsJson({"--verdict", "installed"})), (V{"cli-kesl-1", "cli-nagent-1"}));
  EXPECT_EQ(Hostnames(HostsJson({"--verdict", "remnant,clean"})), (V{"cli-clean-1", "cli-remnant-1"}));
  EXPECT_EQ(Hostnames(HostsJson({"--verdict", "running,stale"})), V{});
  EXPECT_EQ(Hostnames(HostsJson({"--product", "klnagent"})), V{"cli-nagent-1"});
  EXPECT_EQ(Hostnames(HostsJson({"--product", "kesl", "--version", "12.1.0.1297"})), V{"cli-kesl-1"});
  EXPECT_EQ(Hostnames(HostsJson({"--hostname", "cli-n*"})), V{"cli-nagent-1"});
  EXPECT_EQ(Hostnames(HostsJson({"--os", "debian 12"})).size(), 4u);
  EXPECT_EQ(Hostnames(HostsJson({"--os", "rhel"})), V{});
  EXPECT_EQ(Hostnames(HostsJson({"--seen-after", "1h"})).size(), 4u);
  EXPECT_EQ(Hostnames(HostsJson({"--seen-before", "1h"})), V{});
  EXPECT_EQ(Hostnames(HostsJson({"--filter", "verdict=installed hostname=cli-k*"})), V{"cli-kesl-1"});
  EXPECT_EQ(Hostnames(HostsJson({"--verdict", "installed", "--filter", "hostname=cli-n*"})), V{"cli-nagent-1"});
  const auto by_verdict = HostsJson({"--order", "verdict"});
  ASSERT_EQ(by_verdict.hosts_size(), 4);
  EXPECT_EQ(by_verdict.hosts(0).verdict(), v1::VERDICT_INSTALLED);
  EXPECT_EQ(by_verdict.hosts(2).hostname(), "cli-remnant-1");
  EXPECT_EQ(by_verdict.hosts(3).hostname(), "cli-clean-1");

  Outcome none = Ksweep({"hosts", "--os", "rhel"});
  EXPECT_EQ(none.code, 0) << Describe(none);
  EXPECT_EQ(none.out, "No hosts match.\n");
}

TEST_F(CliFleetTest, HostsFollowPagesAndStopAtTheLimit) {
  const auto all = HostsJson({"--page-size", "1"});
  EXPECT_EQ(Hostnames(all), (std::vector<std::string>{"cli-clean-1", "cli-kesl-1", "cli-nagent-1", "cli-remnant-1"}));
  EXPECT_TRUE(all.next_page_token().empty());

  Outcome cut = Ksweep({"hosts", "--limit", "3", "--page-size", "2", "-o", "json"});
  ASSERT_EQ(cut.code, 0) << Describe(cut);
  const auto first = ParseJson<v1::ListHostsResponse>(cut.out);
  EXPECT_EQ(Hostnames(first), (std::vector<std::string>{"cli-clean-1", "cli-kesl-1", "cli-nagent-1"}));
  EXPECT_EQ(first.total_size(), 4);
  ASSERT_FALSE(first.next_page_token().empty());
  EXPECT_NE(cut.err.find("showing the first 3 of 4 hosts"), std::string::npos) << cut.err;

  // The token resumes exactly after the third host.
  const auto rest = HostsJson({"--page-token", first.next_page_token(), "--all"});
  EXPECT_EQ(Hostnames(rest), std::vector<std::string>{"cli-remnant-1"});

  // A token only fits its own query: the collector says so, and that is a usage error.
  Outcome forged = Ksweep({"hosts", "--verdict", "clean", "--page-token", first.next_page_token()});
  EXPECT_EQ(forged.code, 2) << Describe(forged);
  EXPECT_NE(forged.err.find("ksweep: the collector rejected the request: "), std::string::npos) << forged.err;
}

TEST_F(CliFleetTest, HostDetailWithEvidenceAndHistory) {
  Outcome table = Ksweep({"host", "cli-kesl-1"});
  ASSERT_EQ(table.code, 0) << Describe(table);
  EXPECT_NE(table.out.find("Host          cli-kesl-1\n"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("Verdict       INSTALLED\n"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("Debian GNU/Linux 12 (bookworm)"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("  kesl  Kaspersky Endpoint Security for Linux  INSTALLED  12.1.0.1297\n"),
            std::string::npos)
      << table.out;
  EXPECT_NE(table.out.find("DPKG_PACKAGE"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("DETECTED"), std::string::npos) << table.out;

  Outcome json = Ksweep({"host", "cli-kesl-1", "-o", "json"});
  ASSERT_EQ(json.code, 0) << Describe(json);
  const auto host = ParseJson<v1::Host>(json.out);
  EXPECT_EQ(host.summary().hostname(), "cli-kesl-1");
  EXPECT_EQ(host.summary().verdict(), v1::VERDICT_INSTALLED);
  EXPECT_EQ(host.facts().os().id(), "debian");
  ASSERT_EQ(host.findings_size(), 1) << json.out;
  const auto& finding = host.findings(0);
  EXPECT_EQ(finding.product_id(), "kesl");
  EXPECT_EQ(finding.state(), v1::PRODUCT_STATE_INSTALLED);
  EXPECT_EQ(finding.version(), "12.1.0.1297");
  bool dpkg = false;
  for (const auto& e : finding.evidence()) {
    if (e.kind() == v1::EVIDENCE_KIND_DPKG_PACKAGE) {
      dpkg = true;
      EXPECT_NE(e.detail().find("kesl"), std::string::npos) << e.detail();
      EXPECT_EQ(e.path(), "/var/lib/dpkg/status");
    }
  }
  EXPECT_TRUE(dpkg) << json.out;
  ASSERT_GE(host.history_size(), 1);
  EXPECT_EQ(host.history(host.history_size() - 1).type(), v1::EVENT_TYPE_DETECTED);

  // By id too, and the CSV has one row per piece of evidence.
  const auto rows = KsweepCsv({"host", host.summary().host_id(), "-o", "csv"});
  ASSERT_EQ(rows.size(), 1u + static_cast<size_t>(finding.evidence_size())) << ::testing::PrintToString(rows);
  EXPECT_EQ(rows[0][0], "host_id");
  EXPECT_EQ(rows[0][8], "evidence_kind");
  EXPECT_EQ(rows[1][1], "cli-kesl-1");
  EXPECT_EQ(rows[1][3], "kesl");
  EXPECT_EQ(rows[1][6], "12.1.0.1297");

  Outcome clean = Ksweep({"host", "cli-clean-1"});
  ASSERT_EQ(clean.code, 0) << Describe(clean);
  EXPECT_NE(clean.out.find("Verdict       CLEAN\n"), std::string::npos) << clean.out;
  EXPECT_NE(clean.out.find("Findings: none"), std::string::npos) << clean.out;

  Outcome missing = Ksweep({"host", "cli-no-such-host"});
  EXPECT_EQ(missing.code, 3) << Describe(missing);
  EXPECT_TRUE(missing.out.empty());
  EXPECT_TRUE(missing.err.starts_with("ksweep: ")) << missing.err;
  EXPECT_NE(missing.err.find("cli-no-such-host"), std::string::npos) << missing.err;
}

TEST_F(CliFleetTest, TrendIsTheBurnDown) {
  Outcome json = Ksweep({"trend", "--days", "7", "-o", "json"});
  ASSERT_EQ(json.code, 0) << Describe(json);
  const auto trend = ParseJson<v1::Trend>(json.out);
  ASSERT_EQ(trend.points_size(), 7) << json.out;
  const auto& today = trend.points(6);
  EXPECT_EQ(today.date(), TodayUtc());
  EXPECT_EQ(today.affected_hosts(), 2);
  EXPECT_EQ(today.installed(), 2);
  EXPECT_EQ(today.remnant(), 1);
  EXPECT_EQ(today.clean(), 1);

  const auto rows = KsweepCsv({"trend", "--days", "2", "-o", "csv"});
  ASSERT_EQ(rows.size(), 3u) << ::testing::PrintToString(rows);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"date", "affected_hosts", "running", "installed", "remnant", "clean"}));
  EXPECT_EQ(rows[2], (std::vector<std::string>{TodayUtc(), "2", "0", "2", "1", "1"}));

  Outcome table = Ksweep({"trend", "--days", "1"});
  ASSERT_EQ(table.code, 0) << Describe(table);
  EXPECT_EQ(Lines(table.out).size(), 2u) << table.out;
  EXPECT_TRUE(table.out.starts_with("DATE        AFFECTED")) << table.out;
}

TEST_F(CliFleetTest, EventsListed) {
  Outcome json = Ksweep({"events", "-o", "json"});
  ASSERT_EQ(json.code, 0) << Describe(json);
  const auto events = ParseJson<v1::ListEventsResponse>(json.out);
  std::set<std::string> detected;
  int64_t last_id = 0;
  for (const auto& e : events.events()) {
    EXPECT_GT(e.id(), last_id) << "oldest first";
    last_id = e.id();
    if (e.type() == v1::EVENT_TYPE_DETECTED) detected.insert(e.hostname() + "/" + e.product_id());
  }
  EXPECT_EQ(detected, (std::set<std::string>{"cli-kesl-1/kesl", "cli-nagent-1/klnagent", "cli-remnant-1/kesl"}));

  const auto rows = KsweepCsv({"events", "--host", "cli-kesl-1", "--type", "detected", "-o", "csv"});
  ASSERT_EQ(rows.size(), 2u) << ::testing::PrintToString(rows);
  EXPECT_EQ(rows[0][0], "id");
  EXPECT_EQ(rows[1][2], "DETECTED");
  EXPECT_EQ(rows[1][4], "cli-kesl-1");
  EXPECT_EQ(rows[1][5], "kesl");
  EXPECT_EQ(rows[1][7], "INSTALLED");
  EXPECT_EQ(rows[1][9], "12.1.0.1297");

  Outcome table = Ksweep({"events", "--since", "1h", "--type", "detected"});
  ASSERT_EQ(table.code, 0) << Describe(table);
  EXPECT_EQ(Lines(table.out).size(), 4u) << table.out;
  EXPECT_NE(table.out.find("DETECTED  cli-nagent-1"), std::string::npos) << table.out;

  Outcome none = Ksweep({"events", "--type", "removed,went-stale"});
  ASSERT_EQ(none.code, 0) << Describe(none);
  EXPECT_EQ(none.out, "No events.\n");

  Outcome limited = Ksweep({"events", "--limit", "1", "-o", "json"});
  ASSERT_EQ(limited.code, 0) << Describe(limited);
  EXPECT_EQ(ParseJson<v1::ListEventsResponse>(limited.out).events_size(), 1);
  EXPECT_NE(limited.err.find("showing the first 1 events"), std::string::npos) << limited.err;
}

// A package removed on a host: the agent notices, the collector derives REMOVED, a follower sees it at once, the
// verdict and the trend change.
TEST_F(CliFleetTest, FollowSeesARemovalThenStopsOnInterrupt) {
  Outcome before = Ksweep({"events", "-o", "json"});
  ASSERT_EQ(before.code, 0) << Describe(before);
  int64_t last_id = 0;
  const auto stored = ParseJson<v1::ListEventsResponse>(before.out);
  for (const auto& e : stored.events()) last_id = std::max(last_id, e.id());

  // --after-id: whatever happens between now and the stream starting is replayed, so nothing can be missed.
  Child follow({CliBinary(), "--insecure", "--server", fleet_->api_address(), "events", "--follow", "-o", "json", "--after-id",
                std::to_string(last_id)},
               tmp_.path() / "follow.out", tmp_.path() / "follow.err");
  MakeRoot(tmp_.path() / "roots/kesl", "cli-kesl-1", 2, {{"bash", "5.2.15-2+b2"}});

  v1::Event removed;
  ASSERT_TRUE(WaitFor([&] {
    for (const auto& line : Lines(follow.out())) {
      v1::Event e;
      if (!google::protobuf::util::JsonStringToMessage(line, &e).ok()) continue;
      if (e.type() == v1::EVENT_TYPE_REMOVED && e.hostname() == "cli-kesl-1") {
        removed = e;
        return true;
      }
    }
    return false;
  })) << "no REMOVED event; follower output:\n" << follow.out() << "\nstderr:\n" << follow.err() << fleet_->AgentLogs();
  EXPECT_EQ(removed.product_id(), "kesl");
  EXPECT_EQ(removed.old_state(), v1::PRODUCT_STATE_INSTALLED);
  EXPECT_GT(removed.id(), last_id);
  for (const auto& line : Lines(follow.out())) {
    v1::Event e;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &e).ok()) << "not one JSON object a line: " << line;
  }
  EXPECT_TRUE(follow.running()) << "--follow runs until interrupted";
  follow.Signal(SIGINT);
  EXPECT_EQ(follow.Wait(kDeadline), 0) << follow.err();
  EXPECT_TRUE(follow.err().empty()) << follow.err();

  Outcome host = Ksweep({"host", "cli-kesl-1", "-o", "json"});
  ASSERT_EQ(host.code, 0) << Describe(host);
  EXPECT_EQ(ParseJson<v1::Host>(host.out).summary().verdict(), v1::VERDICT_CLEAN);
  Outcome trend = Ksweep({"trend", "--days", "1", "-o", "json"});
  ASSERT_EQ(trend.code, 0) << Describe(trend);
  const auto t = ParseJson<v1::Trend>(trend.out);
  ASSERT_EQ(t.points_size(), 1);
  EXPECT_EQ(t.points(0).affected_hosts(), 1) << trend.out;
  const auto rows = KsweepCsv({"events", "--type", "removed", "-o", "csv"});
  ASSERT_EQ(rows.size(), 2u) << ::testing::PrintToString(rows);
  EXPECT_EQ(rows[1][0], std::to_string(removed.id()));
}

// The collector restarts under a follower: it says so, retries, and resumes after the last event it printed.
TEST_F(CliFleetTest, FollowResumesAfterTheCollectorRestarts) {
  Child follow({CliBinary(), "--insecure", "--server", fleet_->api_address(), "events", "--follow", "-o", "csv", "--type",
                "removed"},
               tmp_.path() / "follow.out", tmp_.path() / "follow.err");
  // The CSV header is printed once the follower has checked the collector and is about to stream.
  ASSERT_TRUE(WaitFor([&] { return follow.out().starts_with("id,time,type,"); })) << follow.err();
  ASSERT_TRUE(fleet_->RestartCollector());
  ASSERT_TRUE(WaitFor([&] { return follow.err().find("ksweep: lost the event stream") != std::string::npos; }))
      << follow.err();
  EXPECT_TRUE(follow.running()) << follow.err();

  MakeRoot(tmp_.path() / "roots/kesl", "cli-kesl-1", 2, {{"bash", "5.2.15-2+b2"}});
  std::vector<std::vector<std::string>> rows;
  ASSERT_TRUE(WaitFor([&] {
    rows = ParseCsv(follow.out());
    return rows.size() >= 2;
  })) << "follower output:\n" << follow.out() << "\nstderr:\n" << follow.err() << fleet_->AgentLogs();
  ASSERT_EQ(rows.size(), 2u) << follow.out();
  EXPECT_EQ(rows[1][2], "REMOVED");
  EXPECT_EQ(rows[1][4], "cli-kesl-1");
  EXPECT_EQ(rows[1][5], "kesl");
  EXPECT_NE(follow.err().find("ksweep: following again"), std::string::npos) << follow.err();
  follow.Signal(SIGTERM);
  EXPECT_EQ(follow.Wait(kDeadline), 0) << follow.err();
}

TEST_F(CliFleetTest, ScanReachesTheAgent) {
  // The agent logs each ScanNow with its reason: a reason of our own shows this request arrived (an unchanged
  // rescan sends no new report, so the store cannot tell).
  Outcome scan = Ksweep({"scan", "cli-kesl-1", "--reason", "cli-test scan one"});
  ASSERT_EQ(scan.code, 0) << Describe(scan);
  EXPECT_TRUE(scan.out.starts_with("Scan requested on 1 host(s).\n")) << scan.out;
  EXPECT_NE(scan.out.find(HostId("cli-kesl-1")), std::string::npos) << scan.out;
  EXPECT_TRUE(WaitFor([&] {
    return fleet_->AgentLog("kesl").find("event=scan_now reason=\"cli-test scan one\"") != std::string::npos;
  })) << fleet_->AgentLogs();
  EXPECT_EQ(fleet_->AgentLog("clean").find("cli-test scan one"), std::string::npos) << "only the host asked for";

  Outcome by_filter = Ksweep({"scan", "--verdict", "clean", "-o", "json", "--reason", "cli-test by filter"});
  ASSERT_EQ(by_filter.code, 0) << Describe(by_filter);
  const auto r = ParseJson<v1::RequestScanResponse>(by_filter.out);
  EXPECT_EQ(std::vector<std::string>(r.requested().begin(), r.requested().end()),
            std::vector<std::string>{HostId("cli-clean-1")});
  EXPECT_EQ(r.not_connected_size(), 0);
  EXPECT_TRUE(WaitFor([&] { return fleet_->AgentLog("clean").find("cli-test by filter") != std::string::npos; }))
      << fleet_->AgentLogs();

  const auto rows = KsweepCsv({"scan", "--all", "-o", "csv"});
  ASSERT_EQ(rows.size(), 5u) << ::testing::PrintToString(rows);
  for (size_t i = 1; i < rows.size(); ++i) EXPECT_EQ(rows[i][1], "requested");

  Outcome missing = Ksweep({"scan", "cli-no-such-host"});
  EXPECT_EQ(missing.code, 3) << Describe(missing);

  // An agent that is gone is reported as such, not silently counted as scanned.
  fleet_->StopAgent("nagent");
  const std::string nagent = HostId("cli-nagent-1");
  Outcome skipped;
  EXPECT_TRUE(WaitFor([&] {
    skipped = Ksweep({"scan", "--hostname", "cli-n*"});
    return skipped.code == 0 && skipped.out.find("not connected, skipped") != std::string::npos;
  })) << Describe(skipped);
  EXPECT_TRUE(skipped.out.starts_with("Scan requested on 0 host(s); 1 selected host(s) not connected, skipped.\n"))
      << skipped.out;
  EXPECT_NE(skipped.out.find(nagent), std::string::npos) << skipped.out;
}

TEST_F(CliFleetTest, InvalidFilterShowsTheCollectorsMessage) {
  for (const char* expr : {"colour=blue", "verdict=sideways", "seen_after=yesterday", "hostname"}) {
    Outcome r = Ksweep({"hosts", "--filter", expr});
    EXPECT_EQ(r.code, 2) << expr << "\n" << Describe(r);
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_TRUE(r.err.starts_with("ksweep: the collector rejected the request: ")) << r.err;
    EXPECT_GT(r.err.size(), std::string("ksweep: the collector rejected the request: \n").size()) << r.err;
  }
  Outcome scan = Ksweep({"scan", "--filter", "colour=blue"});
  EXPECT_EQ(scan.code, 2) << Describe(scan);
  // Caught before any RPC: the flag and the value are named.
  Outcome local = Ksweep({"hosts", "--verdict", "sideways"});
  EXPECT_EQ(local.code, 2) << Describe(local);
  EXPECT_NE(local.err.find("--verdict: unknown value 'sideways'"), std::string::npos) << local.err;
}

TEST_F(CliFleetTest, ServerFromTheEnvironment) {
  Outcome r = RunCommand({CliBinary(), "--insecure", "summary", "-o", "json"}, tmp_.path(), {"KSWEEP_SERVER=" + fleet_->api_address()});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_EQ(ParseJson<v1::Summary>(r.out).total_hosts(), 4);
  // The flag wins over the environment.
  Outcome flag = RunCommand({CliBinary(), "--insecure", "--server", fleet_->api_address(), "summary"}, tmp_.path(),
                        {"KSWEEP_SERVER=127.0.0.1:1"});
  EXPECT_EQ(flag.code, 0) << Describe(flag);
}

TEST_F(CliFleetTest, PythonExampleListsHostsFollowingPages) {
  if (RunCommand({kPython, "-c", "import grpc, google.protobuf"}, tmp_.path()).code != 0) {
    GTEST_SKIP() << kPython << " has no grpc module (scripts/setup.sh installs python3-grpcio)";
  }
  const std::string script = std::string(KSWEEP_SOURCE_DIR) + "/examples/python/list_running.py";
  const std::string stubs = std::string(KSWEEP_BINARY_DIR) + "/python";
  Outcome installed = RunCommand({kPython, script, "--server", fleet_->api_address(), "--stubs", stubs, "--insecure", "--verdict",
                              "installed", "--page-size", "1"},
                             tmp_.path());
  ASSERT_EQ(installed.code, 0) << Describe(installed);
  const auto lines = Lines(installed.out);
  ASSERT_EQ(lines.size(), 2u) << installed.out;
  EXPECT_TRUE(lines[0].starts_with("cli-kesl-1\t" + HostId("cli-kesl-1") + "\tkesl\tlinux\t")) << lines[0];
  google::protobuf::Timestamp last_seen;
  EXPECT_TRUE(google::protobuf::util::TimeUtil::FromString(lines[0].substr(lines[0].rfind('\t') + 1), &last_seen))
      << lines[0];
  EXPECT_TRUE(lines[1].starts_with("cli-nagent-1\t" + HostId("cli-nagent-1") + "\tklnagent\tlinux\t")) << lines[1];

  // Nothing runs Kaspersky here (fixture roots have no processes): no lines, and success.
  Outcome running = RunCommand({kPython, script, "--stubs", stubs, "--insecure"}, tmp_.path(),
                           {"KSWEEP_SERVER=" + fleet_->api_address()});
  ASSERT_EQ(running.code, 0) << Describe(running);
  EXPECT_EQ(running.out, "");
}

// ---- no collector ----

TEST(CliNoCollectorTest, UnreachableCollectorExits4NamingTheAddress) {
  TempDir tmp;
  const std::string address = ClosedPortAddress();
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"summary"}, {"hosts", "-o", "json"}, {"host", "web-1"},
                                             {"events", "--follow"}, {"trend"}, {"scan", "--all"}}) {
    std::vector<std::string> argv{CliBinary(), "--insecure", "--server", address};
    argv.insert(argv.end(), args.begin(), args.end());
    Outcome r = RunCommand(argv, tmp.path());
    EXPECT_EQ(r.code, 4) << args[0] << "\n" << Describe(r);
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_NE(r.err.find("ksweep: cannot reach the collector at " + address), std::string::npos) << r.err;
  }
  // The address from the environment is the one named.
  Outcome env = RunCommand({CliBinary(), "--insecure", "summary"}, tmp.path(), {"KSWEEP_SERVER=" + address});
  EXPECT_EQ(env.code, 4) << Describe(env);
  EXPECT_NE(env.err.find(address), std::string::npos) << env.err;
}

TEST(CliNoCollectorTest, SilentServerHitsTheDeadline) {
  TempDir tmp;
  // Accepts connections (the kernel does, from the backlog) but never speaks HTTP/2.
  std::string address;
  const int fd = BindLoopback(&address);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ASSERT_EQ(::listen(fd, 16), 0);
  Outcome r = RunCommand({CliBinary(), "--insecure", "--server", address, "--timeout", "300ms", "summary"}, tmp.path());
  ::close(fd);
  EXPECT_EQ(r.code, 4) << Describe(r);
  EXPECT_NE(r.err.find("ksweep: the collector at " + address + " did not answer GetSummary within 300 ms"),
            std::string::npos)
      << r.err;
}

TEST(CliNoCollectorTest, UsageErrorsExit2BeforeAnyRpc) {
  TempDir tmp;
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {}, {"frobnicate"}, {"hosts", "--page-size", "5000"}, {"trend", "--days", "0"}, {"-o", "xml", "summary"}}) {
    std::vector<std::string> argv{CliBinary(), "--insecure", "--server", ClosedPortAddress()};
    argv.insert(argv.end(), args.begin(), args.end());
    Outcome r = RunCommand(argv, tmp.path());
    EXPECT_EQ(r.code, 2) << Describe(r);
    EXPECT_TRUE(r.err.starts_with("ksweep: ")) << r.err;
    EXPECT_EQ(r.err.find("cannot reach"), std::string::npos) << "no RPC for a usage error: " << r.err;
  }
  Outcome help = RunCommand({CliBinary(), "hosts", "--help"}, tmp.path());
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("--seen-after"), std::string::npos) << help.out;
}

TEST(CliNoCollectorTest, TlsIsTheDefaultAndNeedsTheCaCertificate) {
  TempDir tmp;
  // Without --insecure the CLI will not talk plain text, and TLS needs the collector's CA: exit 2, no RPC.
  Outcome r = RunCommand({CliBinary(), "--server", ClosedPortAddress(), "summary"}, tmp.path());
  EXPECT_EQ(r.code, 2) << Describe(r);
  EXPECT_NE(r.err.find("--ca-cert FILE or KSWEEP_CA_CERT"), std::string::npos) << r.err;
  Outcome missing = RunCommand({CliBinary(), "--server", ClosedPortAddress(), "--ca-cert",
                                (tmp.path() / "missing.pem").string(), "summary"},
                               tmp.path());
  EXPECT_EQ(missing.code, 2) << Describe(missing);
  EXPECT_NE(missing.err.find("missing.pem': cannot read"), std::string::npos) << missing.err;
  // The token is never a flag.
  Outcome flag = RunCommand({CliBinary(), "--server", ClosedPortAddress(), "--token", "ksw_x", "summary"}, tmp.path());
  EXPECT_EQ(flag.code, 2) << Describe(flag);
}

TEST(CliNoCollectorTest, PythonExampleUnreachable) {
  TempDir tmp;
  if (RunCommand({kPython, "-c", "import grpc, google.protobuf"}, tmp.path()).code != 0) {
    GTEST_SKIP() << kPython << " has no grpc module (scripts/setup.sh installs python3-grpcio)";
  }
  const std::string address = ClosedPortAddress();
  Outcome r = RunCommand({kPython, std::string(KSWEEP_SOURCE_DIR) + "/examples/python/list_running.py", "--server", address,
                      "--stubs", std::string(KSWEEP_BINARY_DIR) + "/python", "--insecure"},
                     tmp.path());
  EXPECT_EQ(r.code, 4) << Describe(r);
  EXPECT_NE(r.err.find("cannot reach the collector at " + address), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ksweep::cli_test
