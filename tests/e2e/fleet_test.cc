// The whole system on loopback: one real collector, four real agents, the real CLI. Three agents scan fixture roots
// whose dpkg databases the real dpkg made (a clean host with a look-alike package, klnagent64 installed, kesl removed
// but not purged); the fourth scans this machine's live root while a fake `kesl` daemon runs (a copy of sleep).
// The fleet API must answer exactly what the agents found; then a package is removed with the real `dpkg -r` and
// the change must reach a WatchEvents subscriber, the host's verdict, the summary and the trend.
// Runs under RESOURCE_LOCK live_root (tests/e2e/CMakeLists.txt): the fake kesl must never meet the clean-host tests.
#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <set>

#include "tests/e2e/fleet_harness.h"

namespace ksweep::fleet_test {
namespace {

using google::protobuf::util::MessageDifferencer;
using google::protobuf::util::TimeUtil;

struct FixtureHost {
  std::string name;  // fixture folder and log name
  std::string hostname;
  std::string root;
};

class FleetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { debs_ = std::make_unique<FixtureDebs>("fleet-debs"); }
  static void TearDownTestSuite() { debs_.reset(); }
  static std::string Deb(const std::string& name) { return debs_->Deb(name); }

  void SetUp() override {
    ASSERT_EQ(debs_->error(), "");
    test::MakeDirs(tmp_.Sub("logs"));
    // Each fixture host gets its own machine id and hostname, and a dpkg database written by dpkg itself.
    clean_ = {"clean", "fleet-clean", tmp_.Sub("roots/clean")};
    nagent_ = {"nagent", "fleet-nagent", tmp_.Sub("roots/nagent")};
    remnant_ = {"remnant", "fleet-remnant", tmp_.Sub("roots/remnant")};
    MakeHostRoot(clean_.root, clean_.hostname, 1);
    MakeHostRoot(nagent_.root, nagent_.hostname, 2);
    MakeHostRoot(remnant_.root, remnant_.hostname, 3);
    // A look-alike from another vendor: a real package database, nothing Kaspersky in it.
    ASSERT_NO_FATAL_FAILURE(RunDpkg(clean_.root, {"-i", Deb("keslint")}));
    ASSERT_NO_FATAL_FAILURE(RunDpkg(nagent_.root, {"-i", Deb("klnagent64")}));
    // Removed, not purged: dpkg keeps its conffile and a 'deinstall ok config-files' record.
    ASSERT_NO_FATAL_FAILURE(RunDpkg(remnant_.root, {"-i", Deb("kesl")}));
    ASSERT_NO_FATAL_FAILURE(RunDpkg(remnant_.root, {"-r", "kesl"}));

    // The live host: this machine, with a fake kesl daemon running for the whole test.
    kesl_ = std::make_unique<FakeDaemon>(tmp_, "kesl");
    ASSERT_EQ(kesl_->error(), "");
    // What the agent sees here, to know the live host's name and id and to compare evidence with.
    live_ = test::ScanRoot("/");
    ASSERT_TRUE(live_.parsed) << live_.parse_error;
    ASSERT_EQ(live_.report.verdict(), v1::VERDICT_RUNNING) << test::FindingIds(live_.report);
    live_hostname_ = live_.report.host().hostname();
    ASSERT_FALSE(live_hostname_.empty());
    ASSERT_FALSE(live_hostname_.starts_with("fleet-")) << "this machine's name collides with a fixture host's";

    collector_ = std::make_unique<CollectorProc>(tmp_.Sub("data"), tmp_.Sub("logs/collector.log"));
    ASSERT_TRUE(collector_->Start());
    fleet_ = collector_->fleet();
    // Subscribed before any agent connects: it must see every event the fleet makes.
    watcher_ = std::make_unique<Watcher>(fleet_, v1::WatchEventsRequest());

    for (const FixtureHost* h : {&clean_, &nagent_, &remnant_}) {
      agents_.push_back(StartAgent(collector_->agent_address(), h->root, tmp_.Sub("state/" + h->name),
                                   tmp_.Sub("logs/agent-" + h->name + ".log")));
    }
    agents_.push_back(
        StartAgent(collector_->agent_address(), "/", tmp_.Sub("state/live"), tmp_.Sub("logs/agent-live.log")));
    for (const auto& a : agents_) ASSERT_EQ(a->start_error(), "");

    ASSERT_TRUE(WaitForSummary([](const v1::Summary& s) {
      return s.total_hosts() == 4 && VerdictCount(s, "RUNNING") == 1 && VerdictCount(s, "INSTALLED") == 1 &&
             VerdictCount(s, "REMNANT") == 1 && VerdictCount(s, "CLEAN") == 1;
    }));
  }

  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "--- collector log\n" << (collector_ ? Tail(collector_->Log()) : "") << "\n";
      for (const auto& a : agents_) std::cerr << "--- " << a->log_path() << "\n" << Tail(a->Log(), 3000) << "\n";
    }
    watcher_.reset();
    agents_.clear();
    if (collector_) {
      EXPECT_EQ(collector_->Stop(), 0) << "the collector must exit 0 on SIGTERM";
    }
    collector_.reset();
  }

  static void RunDpkg(const std::string& root, const std::vector<std::string>& args) {
    const ProcessResult r = Dpkg(root, args);
    ASSERT_TRUE(r.Exited(0)) << "dpkg " << ::testing::PrintToString(args) << " on " << root << ": " << r.Describe();
  }

  ::testing::AssertionResult WaitForSummary(const std::function<bool(const v1::Summary&)>& ready) {
    v1::Summary last;
    grpc::Status status;
    const bool ok = test::WaitFor(
        [&] {
          status = fleet_->GetSummary(Ctx().get(), v1::GetSummaryRequest(), &last);
          return status.ok() && ready(last);
        },
        kDeadline);
    if (ok) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "the fleet did not get there within " << kDeadline.count()
                                         << " ms; last GetSummary: " << Describe(status) << "\n"
                                         << last.DebugString();
  }

  v1::Host GetHost(const std::string& host) {
    v1::GetHostRequest req;
    req.set_host(host);
    v1::Host out;
    const grpc::Status s = fleet_->GetHost(Ctx().get(), req, &out);
    EXPECT_TRUE(s.ok()) << host << ": " << Describe(s);
    return out;
  }

  v1::ListHostsResponse ListHosts(const v1::HostFilter& filter, v1::HostOrder order = v1::HOST_ORDER_HOSTNAME) {
    v1::ListHostsRequest req;
    *req.mutable_filter() = filter;
    req.set_order_by(order);
    v1::ListHostsResponse out;
    const grpc::Status s = ListAllHosts(fleet_, req, &out);
    EXPECT_TRUE(s.ok()) << filter.DebugString() << ": " << Describe(s);
    return out;
  }

  std::vector<std::string> SortedHostnames(std::vector<std::string> names) {
    std::sort(names.begin(), names.end());
    return names;
  }

  // The collector's copy of a host's findings must be exactly the agent's: a fresh `ksweep-agent scan` of the same
  // root, run by the test, is the reference.
  void ExpectFindingsAsScanned(const v1::Host& host, const v1::HostReport& scanned) {
    SCOPED_TRACE(host.summary().hostname());
    ASSERT_EQ(host.findings_size(), scanned.findings_size()) << test::FindingIds(scanned);
    for (int i = 0; i < host.findings_size(); ++i) {
      std::string diff;
      MessageDifferencer d;
      d.ReportDifferencesToString(&diff);
      EXPECT_TRUE(d.Compare(scanned.findings(i), host.findings(i))) << diff;
    }
    std::string diff;
    MessageDifferencer d;
    d.ReportDifferencesToString(&diff);
    EXPECT_TRUE(d.Compare(scanned.host(), host.facts())) << diff;
    EXPECT_EQ(host.summary().verdict(), scanned.verdict());
    EXPECT_EQ(host.summary().host_id(), scanned.host().host_id());
  }

  test::AgentScan Scan(const FixtureHost& h) {
    test::AgentScan scan = test::ScanRoot(h.root);
    EXPECT_TRUE(scan.parsed) << scan.parse_error;
    return scan;
  }

  static std::unique_ptr<FixtureDebs> debs_;
  TempDir tmp_{"fleet"};
  FixtureHost clean_, nagent_, remnant_;
  std::unique_ptr<FakeDaemon> kesl_;
  test::AgentScan live_;
  std::string live_hostname_;
  std::unique_ptr<CollectorProc> collector_;
  v1::FleetService::Stub* fleet_ = nullptr;
  std::unique_ptr<Watcher> watcher_;
  std::vector<std::unique_ptr<Process>> agents_;
};

std::unique_ptr<FixtureDebs> FleetTest::debs_;

TEST_F(FleetTest, SummaryListsAndEvidenceAreExactlyWhatAgentsFound) {
  // --- GetSummary
  v1::Summary summary;
  ASSERT_TRUE(fleet_->GetSummary(Ctx().get(), v1::GetSummaryRequest(), &summary).ok());
  EXPECT_EQ(summary.total_hosts(), 4);
  EXPECT_EQ(summary.affected_hosts(), 2) << "RUNNING + INSTALLED";
  EXPECT_EQ(summary.stale_hosts(), 0);
  EXPECT_EQ(Counts(summary.by_verdict()),
            (std::map<std::string, int64_t>{{"RUNNING", 1}, {"INSTALLED", 1}, {"REMNANT", 1}, {"CLEAN", 1},
                                            {"STALE", 0}}));
  // Remnants are not counted as the product being there; the look-alike is not Kaspersky's.
  EXPECT_EQ(Counts(summary.by_product()), (std::map<std::string, int64_t>{{"kesl", 1}, {"klnagent", 1}}));
  std::map<std::string, int64_t> want_os{{"debian 12", 3}};
  const auto& os = live_.report.host().os();
  ++want_os[os.id().empty() ? "unknown" : os.version_id().empty() ? os.id() : os.id() + " " + os.version_id()];
  EXPECT_EQ(Counts(summary.by_os()), want_os);

  // --- GetHost: each host's facts and findings exactly as the agent scanned them
  const test::AgentScan clean_scan = Scan(clean_);
  const test::AgentScan nagent_scan = Scan(nagent_);
  const test::AgentScan remnant_scan = Scan(remnant_);
  const v1::Host clean = GetHost(clean_.hostname);
  const v1::Host nagent = GetHost(nagent_.hostname);
  const v1::Host remnant = GetHost(remnant_.hostname);
  const v1::Host live = GetHost(live_hostname_);
  ExpectFindingsAsScanned(clean, clean_scan.report);
  ExpectFindingsAsScanned(nagent, nagent_scan.report);
  ExpectFindingsAsScanned(remnant, remnant_scan.report);
  ExpectFindingsAsScanned(live, live_.report);

  // ... and what that evidence must say, independently of the agent's code.
  EXPECT_EQ(clean.summary().verdict(), v1::VERDICT_CLEAN);
  EXPECT_EQ(clean.findings_size(), 0) << clean.DebugString();
  EXPECT_EQ(clean.history_size(), 0) << "a clean host has no history";

  EXPECT_EQ(nagent.summary().verdict(), v1::VERDICT_INSTALLED);
  ASSERT_EQ(nagent.findings_size(), 1) << nagent.DebugString();
  {
    const v1::Finding& f = nagent.findings(0);
    EXPECT_EQ(f.product_id(), "klnagent");
    EXPECT_EQ(f.state(), v1::PRODUCT_STATE_INSTALLED);
    EXPECT_EQ(f.version(), "15.1.0.20748");
    EXPECT_FALSE(f.broken());
    const v1::Evidence* pkg = test::FindEvidence(f, v1::EVIDENCE_KIND_DPKG_PACKAGE);
    ASSERT_NE(pkg, nullptr) << f.DebugString();
    EXPECT_EQ(pkg->path(), "/var/lib/dpkg/status");
    EXPECT_NE(pkg->detail().find("klnagent64"), std::string::npos) << pkg->detail();
    EXPECT_NE(pkg->detail().find("'install ok installed'"), std::string::npos) << pkg->detail();
    EXPECT_EQ(pkg->implies(), v1::PRODUCT_STATE_INSTALLED);
    const v1::Evidence* bin = test::FindEvidence(f, v1::EVIDENCE_KIND_BINARY);
    ASSERT_NE(bin, nullptr) << f.DebugString();
    EXPECT_EQ(bin->path(), "/opt/kaspersky/klnagent64/bin/klnagchk");
    const std::string sum = test::Sha256Sum(nagent_.root + bin->path());
    ASSERT_EQ(sum.size(), 64u);
    EXPECT_EQ(bin->sha256(), sum);
  }
  EXPECT_EQ(std::vector<std::string>(nagent.summary().products().begin(), nagent.summary().products().end()),
            std::vector<std::string>{"klnagent"});

  EXPECT_EQ(remnant.summary().verdict(), v1::VERDICT_REMNANT);
  ASSERT_EQ(remnant.findings_size(), 1) << remnant.DebugString();
  {
    const v1::Finding& f = remnant.findings(0);
    EXPECT_EQ(f.product_id(), "kesl");
    EXPECT_EQ(f.state(), v1::PRODUCT_STATE_REMNANT);
    const v1::Evidence* pkg = test::FindEvidence(f, v1::EVIDENCE_KIND_DPKG_PACKAGE);
    ASSERT_NE(pkg, nullptr) << f.DebugString();
    EXPECT_NE(pkg->detail().find("'deinstall ok config-files'"), std::string::npos) << pkg->detail();
    EXPECT_EQ(pkg->implies(), v1::PRODUCT_STATE_REMNANT);
    for (const auto& e : f.evidence()) {
      EXPECT_NE(e.implies(), v1::PRODUCT_STATE_INSTALLED) << "removed: nothing may say installed: " << e.DebugString();
    }
  }

  EXPECT_EQ(live.summary().verdict(), v1::VERDICT_RUNNING);
  EXPECT_EQ(live.facts().root(), "/");
  {
    const v1::Finding* f = nullptr;
    for (const auto& x : live.findings()) {
      if (x.product_id() == "kesl") f = &x;
    }
    ASSERT_NE(f, nullptr) << live.DebugString();
    EXPECT_EQ(f->state(), v1::PRODUCT_STATE_RUNNING);
    bool found = false;
    for (const auto& e : f->evidence()) {
      if (e.kind() != v1::EVIDENCE_KIND_PROCESS || e.pid() != kesl_->pid()) continue;
      found = true;
      EXPECT_EQ(e.path(), "/proc/" + std::to_string(kesl_->pid()));
      EXPECT_EQ(e.implies(), v1::PRODUCT_STATE_RUNNING);
    }
    EXPECT_TRUE(found) << "no PROCESS evidence for the fake kesl, pid " << kesl_->pid() << ": " << f->DebugString();
  }

  // By id as by name.
  {
    const v1::Host by_id = GetHost(nagent.summary().host_id());
    MessageDifferencer d;
    d.IgnoreField(v1::HostSummary::descriptor()->FindFieldByName("last_seen"));
    std::string diff;
    d.ReportDifferencesToString(&diff);
    EXPECT_TRUE(d.Compare(nagent, by_id)) << diff;
  }

  // Every host: its agent's stream is live and its first report is stored.
  const std::set<std::string> ids = {clean.summary().host_id(), nagent.summary().host_id(),
                                     remnant.summary().host_id(), live.summary().host_id()};
  EXPECT_EQ(ids.size(), 4u) << "four distinct host ids";
  for (const v1::Host* h : {&clean, &nagent, &remnant, &live}) {
    EXPECT_TRUE(h->summary().connected()) << h->summary().hostname();
    EXPECT_GE(h->summary().last_sequence(), 1u) << h->summary().hostname();
    EXPECT_EQ(h->summary().host_id().size(), 32u) << h->summary().hostname();
  }

  // --- ListHosts: filters
  using Names = std::vector<std::string>;
  const Names all = SortedHostnames({clean_.hostname, nagent_.hostname, remnant_.hostname, live_hostname_});
  const auto filter = [](auto&& set) {
    v1::HostFilter f;
    set(f);
    return f;
  };
  EXPECT_EQ(Hostnames(ListHosts({})), all);
  EXPECT_EQ(ListHosts({}).total_size(), 4);
  EXPECT_EQ(Hostnames(ListHosts(filter([](v1::HostFilter& f) { f.add_verdicts(v1::VERDICT_RUNNING); }))),
            Names{live_hostname_});
  EXPECT_EQ(Hostnames(ListHosts(filter([](v1::HostFilter& f) {
              f.add_verdicts(v1::VERDICT_INSTALLED);
              f.add_verdicts(v1::VERDICT_REMNANT);
            }))),
            (Names{nagent_.hostname, remnant_.hostname}));
  EXPECT_EQ(Hostnames(ListHosts(filter([](v1::HostFilter& f) { f.add_verdicts(v1::VERDICT_STALE); }))), Names{});
  EXPECT_EQ(Hostnames(ListHosts(filter([](v1::HostFilter& f) { f.set_product_id("klnagent"); }))),
            Names{nagent_.hostname});
  EXPECT_EQ(Hostnames(ListHosts(filter([](v1::HostFilter& f) { f.set_product_id("kesl"); }))),
            SortedHostnames({remnant_.hostname, live_hostname_}))
      << "a product filter selects hosts with any finding of it, remnants too";
  EXPECT_EQ(Hostnames(ListHosts(filter([](v1::HostFilter& f) {
              f.set_product_id("klnagent");
              f.set_version("15.1.0.20748");
            }))),
            Names{nagent_.hostname});
  EXPECT_EQ(Hostnames(ListHosts(filter([](v1::HostFilter& f) {
              f.set_product_id("klnagent");
              f.set_version("15.0.0.1");
            }))),
            Names{});
  EXPECT_EQ(Hostnames(ListHosts(filter([](v1::HostFilter& f) { f.set_hostname_glob("fleet-*"); }))),
            (Names{clean_.hostname, nagent_.hostname, remnant_.hostname}));
  EXPECT_EQ(Hostnames(ListHosts(filter([](v1::HostFilter& f) { f.set_hostname_glob("fleet-?agent"); }))),
            Names{nagent_.hostname});
  EXPECT_EQ(Hostnames(ListHosts(filter([](v1::HostFilter& f) {
              f.set_os("debian 12");
              f.set_hostname_glob("fleet-*");
            }))),
            (Names{clean_.hostname, nagent_.hostname, remnant_.hostname}));
  EXPECT_EQ(Hostnames(ListHosts(filter([](v1::HostFilter& f) { f.set_os("rhel"); }))), Names{});
  const auto now = TimeUtil::GetCurrentTime();
  const auto hour = TimeUtil::SecondsToDuration(3600);
  EXPECT_EQ(Hostnames(ListHosts(filter([&](v1::HostFilter& f) { *f.mutable_seen_after() = now - hour; }))), all);
  EXPECT_EQ(Hostnames(ListHosts(filter([&](v1::HostFilter& f) { *f.mutable_seen_before() = now - hour; }))), Names{});
  EXPECT_EQ(Hostnames(ListHosts(filter([](v1::HostFilter& f) { f.set_expr("verdict=remnant,clean hostname=fleet-*"); }))),
            (Names{clean_.hostname, remnant_.hostname}));
  EXPECT_EQ(Hostnames(ListHosts(filter([](v1::HostFilter& f) {
              f.add_verdicts(v1::VERDICT_INSTALLED);
              f.set_expr("product=kesl");
            }))),
            Names{})
      << "fields and expression are ANDed";

  // --- ListHosts: pages, in hostname order, then strongest verdict first
  {
    v1::ListHostsRequest req;
    req.set_page_size(3);
    v1::ListHostsResponse page1, page2;
    ASSERT_TRUE(fleet_->ListHosts(Ctx().get(), req, &page1).ok());
    EXPECT_EQ(page1.hosts_size(), 3);
    EXPECT_EQ(page1.total_size(), 4);
    ASSERT_FALSE(page1.next_page_token().empty());
    req.set_page_token(page1.next_page_token());
    ASSERT_TRUE(fleet_->ListHosts(Ctx().get(), req, &page2).ok());
    EXPECT_EQ(page2.hosts_size(), 1);
    EXPECT_EQ(page2.total_size(), 4);
    EXPECT_TRUE(page2.next_page_token().empty());
    Names both = Hostnames(page1);
    for (const auto& n : Hostnames(page2)) both.push_back(n);
    EXPECT_EQ(both, all);

    // The token belongs to its query: with another filter it is refused, not misread.
    req.mutable_filter()->add_verdicts(v1::VERDICT_CLEAN);
    v1::ListHostsResponse other;
    const grpc::Status s = fleet_->ListHosts(Ctx().get(), req, &other);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  }
  {
    v1::ListHostsRequest req;
    req.mutable_filter()->set_expr("verdict=running,installed,remnant");
    req.set_order_by(v1::HOST_ORDER_VERDICT);
    req.set_page_size(1);
    v1::ListHostsResponse out;
    int pages = 0;
    ASSERT_TRUE(ListAllHosts(fleet_, req, &out, &pages).ok());
    EXPECT_EQ(pages, 3);
    EXPECT_EQ(Hostnames(out), (Names{live_hostname_, nagent_.hostname, remnant_.hostname}));
    EXPECT_EQ(out.total_size(), 3);
  }

  // --- the first reports made exactly one DETECTED event per product found, none for the clean host
  ASSERT_TRUE(watcher_->WaitFor([](const std::vector<v1::Event>& e) { return e.size() >= 3; }))
      << watcher_->Ended() << "\n" << EventLines(watcher_->events());
  std::vector<v1::Event> stored;
  ASSERT_TRUE(ListAllEvents(fleet_, "", &stored).ok());
  EXPECT_EQ(stored.size(), 3u) << EventLines(stored);
  std::set<std::pair<std::string, std::string>> detected;
  for (const auto& e : watcher_->events()) {
    EXPECT_EQ(e.type(), v1::EVENT_TYPE_DETECTED) << EventLine(e);
    detected.insert({e.hostname(), e.product_id() + " " + v1::ProductState_Name(e.new_state())});
  }
  EXPECT_EQ(detected, (std::set<std::pair<std::string, std::string>>{
                          {live_hostname_, "kesl PRODUCT_STATE_RUNNING"},
                          {nagent_.hostname, "klnagent PRODUCT_STATE_INSTALLED"},
                          {remnant_.hostname, "kesl PRODUCT_STATE_REMNANT"}}))
      << EventLines(watcher_->events());

  // --- the CLI says the same
  v1::Summary cli_summary;
  ASSERT_TRUE(KsweepJson(collector_->api_address(), {"summary"}, &cli_summary));
  MessageDifferencer same_counts;
  same_counts.IgnoreField(v1::Summary::descriptor()->FindFieldByName("as_of"));
  std::string diff;
  same_counts.ReportDifferencesToString(&diff);
  EXPECT_TRUE(same_counts.Compare(summary, cli_summary)) << diff;
  v1::Host cli_host;
  ASSERT_TRUE(KsweepJson(collector_->api_address(), {"host", remnant_.hostname}, &cli_host));
  {
    MessageDifferencer d;
    d.IgnoreField(v1::HostSummary::descriptor()->FindFieldByName("last_seen"));
    std::string host_diff;
    d.ReportDifferencesToString(&host_diff);
    EXPECT_TRUE(d.Compare(remnant, cli_host)) << host_diff;
  }
  v1::ListHostsResponse cli_hosts;
  ASSERT_TRUE(KsweepJson(collector_->api_address(), {"hosts", "--verdict", "running,installed"}, &cli_hosts));
  EXPECT_EQ(Hostnames(cli_hosts), SortedHostnames({nagent_.hostname, live_hostname_}));
}

TEST_F(FleetTest, RemovalReachesWatcherVerdictSummaryAndTrend) {
  v1::GetTrendRequest trend_req;
  trend_req.set_days(2);
  const auto trend_today = [&] {
    v1::Trend t;
    const grpc::Status s = fleet_->GetTrend(Ctx().get(), trend_req, &t);
    EXPECT_TRUE(s.ok()) << Describe(s);
    EXPECT_EQ(t.points_size(), 2) << t.DebugString();
    return t.points_size() == 2 ? t.points(1) : v1::TrendPoint();
  };
  const auto point = [](int64_t running, int64_t installed, int64_t remnant, int64_t clean) {
    v1::TrendPoint p;
    p.set_running(running);
    p.set_installed(installed);
    p.set_remnant(remnant);
    p.set_clean(clean);
    p.set_affected_hosts(running + installed);
    return p;
  };
  const auto same_counts = [](const v1::TrendPoint& want, const v1::TrendPoint& got) {
    MessageDifferencer d;
    d.IgnoreField(v1::TrendPoint::descriptor()->FindFieldByName("date"));
    return d.Compare(want, got);
  };
  {
    v1::Trend t;
    ASSERT_TRUE(fleet_->GetTrend(Ctx().get(), trend_req, &t).ok());
    ASSERT_EQ(t.points_size(), 2);
    // A fresh collector: nothing the day before.
    EXPECT_TRUE(same_counts(point(0, 0, 0, 0), t.points(0))) << t.DebugString();
    EXPECT_TRUE(same_counts(point(1, 1, 1, 1), t.points(1))) << t.DebugString();
  }
  const v1::Host before = GetHost(nagent_.hostname);
  ASSERT_EQ(before.summary().verdict(), v1::VERDICT_INSTALLED);

  // A subscriber for this host only, then the real removal.
  v1::WatchEventsRequest wreq;
  wreq.set_host(nagent_.hostname);
  Watcher host_watcher(fleet_, wreq);
  ASSERT_NO_FATAL_FAILURE(RunDpkg(nagent_.root, {"-r", "klnagent64"}));

  ASSERT_TRUE(host_watcher.WaitFor([](const std::vector<v1::Event>& events) {
    return std::any_of(events.begin(), events.end(),
                       [](const v1::Event& e) { return e.type() == v1::EVENT_TYPE_REMOVED; });
  })) << "no REMOVED event for " << nagent_.hostname << " within " << kDeadline.count() << " ms after dpkg -r; "
      << host_watcher.Ended() << "\n" << EventLines(host_watcher.events());

  // The agent may have scanned while dpkg was still at work; wait for the collector to hold the final state (a scan
  // made now, with dpkg done), then check that the change made exactly one event.
  const test::AgentScan final_scan = Scan(nagent_);
  v1::Host after;
  ASSERT_TRUE(WaitForFindings(fleet_, nagent_.hostname, final_scan.report, &after));
  ExpectFindingsAsScanned(after, final_scan.report);
  const std::vector<v1::Event> host_events = host_watcher.events();
  ASSERT_EQ(host_events.size(), 1u) << "one removal, one event:\n" << EventLines(host_events);
  const v1::Event removed = host_events[0];
  EXPECT_EQ(removed.type(), v1::EVENT_TYPE_REMOVED) << EventLine(removed);
  EXPECT_EQ(removed.product_id(), "klnagent");
  EXPECT_EQ(removed.hostname(), nagent_.hostname);
  EXPECT_EQ(removed.host_id(), before.summary().host_id());
  EXPECT_EQ(removed.old_state(), v1::PRODUCT_STATE_INSTALLED);
  EXPECT_EQ(removed.new_state(), v1::PRODUCT_STATE_REMNANT) << "the conffile is left behind by dpkg -r";
  EXPECT_EQ(removed.old_version(), "15.1.0.20748");
  EXPECT_GT(removed.sequence(), before.summary().last_sequence());
  EXPECT_LE(removed.sequence(), after.summary().last_sequence());

  // The verdict, the host's history, the summary and the trend all say it.
  EXPECT_EQ(after.summary().verdict(), v1::VERDICT_REMNANT);
  ASSERT_EQ(after.history_size(), 2) << after.DebugString();
  EXPECT_TRUE(MessageDifferencer::Equals(after.history(0), removed)) << "newest first: " << EventLine(after.history(0));
  EXPECT_EQ(after.history(1).type(), v1::EVENT_TYPE_DETECTED);
  ASSERT_TRUE(WaitForSummary([](const v1::Summary& s) { return s.affected_hosts() == 1; }));
  v1::Summary summary;
  ASSERT_TRUE(fleet_->GetSummary(Ctx().get(), v1::GetSummaryRequest(), &summary).ok());
  EXPECT_EQ(Counts(summary.by_verdict()),
            (std::map<std::string, int64_t>{{"RUNNING", 1}, {"INSTALLED", 0}, {"REMNANT", 2}, {"CLEAN", 1},
                                            {"STALE", 0}}));
  EXPECT_EQ(Counts(summary.by_product()), (std::map<std::string, int64_t>{{"kesl", 1}}));
  EXPECT_TRUE(same_counts(point(1, 0, 2, 1), trend_today())) << trend_today().DebugString();

  // Purged: nothing left, the host is clean.
  ASSERT_NO_FATAL_FAILURE(RunDpkg(nagent_.root, {"-P", "klnagent64"}));
  ASSERT_TRUE(WaitForSummary([](const v1::Summary& s) { return VerdictCount(s, "CLEAN") == 2; }));
  EXPECT_EQ(GetHost(nagent_.hostname).findings_size(), 0);
  EXPECT_TRUE(same_counts(point(1, 0, 1, 2), trend_today())) << trend_today().DebugString();

  // The fake kesl daemon exits. The agent's process poll would notice within seconds; the real CLI asks at once.
  kesl_->Stop();
  {
    const ProcessResult r = test::RunProcess(
        {CliBinary(), "--insecure", "--server", collector_->api_address(), "scan", live_hostname_, "-o", "json"},
        test::RunOptions::WithDeadline(kDeadline));
    ASSERT_TRUE(r.Exited(0)) << r.Describe();
    v1::RequestScanResponse resp;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &resp).ok()) << r.out;
    EXPECT_EQ(resp.requested_size(), 1) << r.out;
    EXPECT_EQ(resp.not_connected_size(), 0) << r.out;
  }
  ASSERT_TRUE(WaitForSummary([](const v1::Summary& s) { return s.affected_hosts() == 0; }));
  EXPECT_EQ(GetHost(live_hostname_).summary().verdict(), v1::VERDICT_CLEAN);
  EXPECT_TRUE(same_counts(point(0, 0, 1, 3), trend_today())) << trend_today().DebugString();

  // The fleet-wide subscriber saw all of it, in order, and so does the stored history.
  const auto is_removal_of = [](const v1::Event& e, const std::string& host, const std::string& product) {
    return e.type() == v1::EVENT_TYPE_REMOVED && e.hostname() == host && e.product_id() == product;
  };
  ASSERT_TRUE(watcher_->WaitFor([&](const std::vector<v1::Event>& events) {
    return std::any_of(events.begin(), events.end(),
                       [&](const v1::Event& e) { return is_removal_of(e, live_hostname_, "kesl"); });
  })) << watcher_->Ended() << "\n" << EventLines(watcher_->events());
  std::vector<v1::Event> stored;
  ASSERT_TRUE(ListAllEvents(fleet_, "", &stored).ok());
  const std::vector<v1::Event> seen = watcher_->events();
  ASSERT_EQ(seen.size(), stored.size()) << "watched:\n" << EventLines(seen) << "stored:\n" << EventLines(stored);
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_TRUE(MessageDifferencer::Equals(seen[i], stored[i])) << EventLine(seen[i]) << " vs " << EventLine(stored[i]);
    if (i > 0) {
      EXPECT_GT(seen[i].id(), seen[i - 1].id());
    }
  }
  const v1::Event& last = stored.back();
  EXPECT_TRUE(is_removal_of(last, live_hostname_, "kesl")) << EventLines(stored);
  EXPECT_EQ(last.old_state(), v1::PRODUCT_STATE_RUNNING);

  // The CLI shows the host's history.
  v1::ListEventsResponse cli_events;
  ASSERT_TRUE(KsweepJson(collector_->api_address(), {"events", "--host", nagent_.hostname}, &cli_events));
  ASSERT_GE(cli_events.events_size(), 2);
  EXPECT_EQ(cli_events.events(0).type(), v1::EVENT_TYPE_DETECTED);
  EXPECT_TRUE(MessageDifferencer::Equals(cli_events.events(1), removed)) << cli_events.DebugString();
}

}  // namespace
}  // namespace ksweep::fleet_test
