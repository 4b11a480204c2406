// Restarting the collector under a live fleet: real agents on fixture roots report to a real collector, which is
// stopped (SIGTERM or SIGKILL; while idle, or just as a report is on the wire) and started again on the same data
// folder and agent port, while a package changes with the real dpkg. Nothing stored before the restart may be lost or
// altered, nothing an agent saw acknowledged may be missing, the agents must come back by themselves (no one
// restarts or pokes them), and the change must arrive with exactly one history event.
#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <sstream>

#include "tests/e2e/fleet_harness.h"

namespace ksweep::fleet_test {
namespace {

using google::protobuf::util::MessageDifferencer;

struct FixtureHost {
  std::string name;
  std::string hostname;
  std::string root;
  std::string state_dir;
};

// What the fleet API says at one moment: every stored event and every host in full.
struct Snapshot {
  std::vector<v1::Event> events;
  std::map<std::string, v1::Host> hosts;  // by hostname
  v1::Summary summary;
};

// A number from the agent's state file (STATE_DIR/state: "sequence N" = the last issued, "acked M" = the last the
// collector acknowledged; agent/daemon/state_store.h); 0 when there is none yet.
uint64_t StateValue(const std::string& state_dir, const std::string& key) {
  std::istringstream in(ReadOrEmpty(state_dir + "/state"));
  const std::string prefix = key + " ";
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) return std::strtoull(line.c_str() + prefix.size(), nullptr, 10);
  }
  return 0;
}
uint64_t IssuedSequence(const std::string& state_dir) { return StateValue(state_dir, "sequence"); }
uint64_t AckedSequence(const std::string& state_dir) { return StateValue(state_dir, "acked"); }

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

class FleetRestartTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { debs_ = std::make_unique<FixtureDebs>("fleet-restart-debs"); }
  static void TearDownTestSuite() { debs_.reset(); }
  static std::string Deb(const std::string& name) { return debs_->Deb(name); }

  void SetUp() override {
    ASSERT_EQ(debs_->error(), "");
    test::MakeDirs(tmp_.Sub("logs"));
    int n = 10;
    for (FixtureHost* h : {&kesl_, &nagent_, &clean_}) {
      h->root = tmp_.Sub("roots/" + h->name);
      h->state_dir = tmp_.Sub("state/" + h->name);
      MakeHostRoot(h->root, h->hostname, ++n);
    }
    ASSERT_NO_FATAL_FAILURE(RunDpkg(kesl_.root, {"-i", Deb("kesl")}));
    ASSERT_NO_FATAL_FAILURE(RunDpkg(nagent_.root, {"-i", Deb("klnagent64")}));
    ASSERT_NO_FATAL_FAILURE(RunDpkg(clean_.root, {"-i", Deb("keslint")}));

    collector_ = std::make_unique<CollectorProc>(tmp_.Sub("data"), tmp_.Sub("logs/collector.log"));
    ASSERT_TRUE(collector_->Start());
    for (const FixtureHost* h : {&kesl_, &nagent_, &clean_}) {
      agents_.push_back(StartAgent(collector_->agent_address(), h->root, h->state_dir,
                                   tmp_.Sub("logs/agent-" + h->name + ".log")));
      ASSERT_EQ(agents_.back()->start_error(), "");
    }
    ASSERT_TRUE(WaitForFleet([](const v1::ListHostsResponse& r) {
      std::map<std::string, v1::Verdict> v;
      for (const auto& h : r.hosts()) v[h.hostname()] = h.verdict();
      return v == std::map<std::string, v1::Verdict>{{"fleet-r-clean", v1::VERDICT_CLEAN},
                                                     {"fleet-r-kesl", v1::VERDICT_INSTALLED},
                                                     {"fleet-r-nagent", v1::VERDICT_INSTALLED}};
    }));
    // Some history before the restart: kesl removed on one host.
    ASSERT_NO_FATAL_FAILURE(RunDpkg(kesl_.root, {"-r", "kesl"}));
    ASSERT_NO_FATAL_FAILURE(Converge(kesl_));
  }

  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "--- collector log\n" << Tail(collector_ ? collector_->Log() : "", 8000) << "\n";
      for (const auto& a : agents_) std::cerr << "--- " << a->log_path() << "\n" << Tail(a->Log(), 3000) << "\n";
    }
    agents_.clear();
    if (collector_) collector_->Stop();
    collector_.reset();
  }

  static void RunDpkg(const std::string& root, const std::vector<std::string>& args) {
    const ProcessResult r = Dpkg(root, args);
    ASSERT_TRUE(r.Exited(0)) << "dpkg " << ::testing::PrintToString(args) << " on " << root << ": " << r.Describe();
  }

  v1::FleetService::Stub* fleet() { return collector_->fleet(); }

  // Polls ListHosts until `ready` holds for the whole fleet.
  ::testing::AssertionResult WaitForFleet(const std::function<bool(const v1::ListHostsResponse&)>& ready) {
    v1::ListHostsResponse last;
    grpc::Status status;
    const bool ok = test::WaitFor(
        [&] {
          status = ListAllHosts(fleet(), v1::ListHostsRequest(), &last);
          return status.ok() && ready(last);
        },
        kDeadline);
    if (ok) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "the fleet did not get there within " << kDeadline.count()
                                         << " ms; last ListHosts: " << Describe(status) << "\n"
                                         << last.DebugString();
  }

  Snapshot Take() {
    Snapshot s;
    EXPECT_TRUE(ListAllEvents(fleet(), "", &s.events).ok());
    EXPECT_TRUE(fleet()->GetSummary(Ctx().get(), v1::GetSummaryRequest(), &s.summary).ok());
    for (const FixtureHost* h : {&kesl_, &nagent_, &clean_}) {
      v1::GetHostRequest req;
      req.set_host(h->hostname);
      req.set_history_limit(1000);
      const grpc::Status st = fleet()->GetHost(Ctx().get(), req, &s.hosts[h->hostname]);
      EXPECT_TRUE(st.ok()) << h->hostname << ": " << Describe(st);
    }
    return s;
  }

  // Waits until the agent has issued a report above `above` (made while the collector is down), and returns its
  // sequence number.
  uint64_t WaitForStaged(const FixtureHost& h, uint64_t above) {
    uint64_t seq = 0;
    EXPECT_TRUE(test::WaitFor(
        [&] {
          seq = IssuedSequence(h.state_dir);
          return seq > above;
        },
        kDeadline))
        << h.hostname << ": no report staged above sequence " << above << " while the collector was down";
    return seq;
  }

  // Waits until the collector holds this host's last word: the findings of a scan made now (the fixture is no longer
  // changing), under the newest number the agent issued, which the agent saw acknowledged. Returns that number.
  uint64_t Converge(const FixtureHost& h) {
    const test::AgentScan scan = test::ScanRoot(h.root);
    EXPECT_TRUE(scan.parsed) << scan.parse_error;
    v1::Host host;
    EXPECT_TRUE(WaitForFindings(fleet(), h.hostname, scan.report, &host));
    uint64_t issued = 0;
    EXPECT_TRUE(WaitForFleet([&](const v1::ListHostsResponse& r) {
      issued = IssuedSequence(h.state_dir);
      return AckedSequence(h.state_dir) == issued &&
             std::any_of(r.hosts().begin(), r.hosts().end(), [&](const v1::HostSummary& s) {
               return s.hostname() == h.hostname && s.last_sequence() == issued;
             });
    })) << h.hostname << ": agent issued " << issued << ", acked " << AckedSequence(h.state_dir);
    return issued;
  }

  // Everything stored before is still there, unchanged: the old events are a prefix of the new list, equal field
  // for field, and hosts the restart did not touch have the same verdict, findings and history.
  static void ExpectNothingLost(const Snapshot& before, const Snapshot& after, const std::string& changed_host) {
    ASSERT_GE(after.events.size(), before.events.size())
        << "before:\n" << EventLines(before.events) << "after:\n" << EventLines(after.events);
    for (size_t i = 0; i < before.events.size(); ++i) {
      std::string diff;
      MessageDifferencer d;
      d.ReportDifferencesToString(&diff);
      EXPECT_TRUE(d.Compare(before.events[i], after.events[i])) << EventLine(before.events[i]) << ": " << diff;
    }
    for (const auto& [name, was] : before.hosts) {
      SCOPED_TRACE(name);
      const auto it = after.hosts.find(name);
      ASSERT_NE(it, after.hosts.end());
      const v1::Host& now = it->second;
      EXPECT_EQ(now.summary().host_id(), was.summary().host_id());
      EXPECT_TRUE(MessageDifferencer::Equals(now.summary().first_seen(), was.summary().first_seen()));
      EXPECT_TRUE(MessageDifferencer::Equals(now.facts(), was.facts())) << now.facts().DebugString();
      // History is newest first: the old one is the tail of the new one.
      ASSERT_GE(now.history_size(), was.history_size());
      const int shift = now.history_size() - was.history_size();
      for (int i = 0; i < was.history_size(); ++i) {
        EXPECT_TRUE(MessageDifferencer::Equals(now.history(i + shift), was.history(i))) << EventLine(was.history(i));
      }
      if (name == changed_host) continue;
      EXPECT_EQ(now.summary().verdict(), was.summary().verdict());
      // Not equal: an agent whose last ack the stop cut off re-issues the same snapshot under a new number.
      EXPECT_GE(now.summary().last_sequence(), was.summary().last_sequence());
      EXPECT_EQ(now.findings_size(), was.findings_size());
      for (int i = 0; i < std::min(now.findings_size(), was.findings_size()); ++i) {
        std::string diff;
        MessageDifferencer d;
        d.ReportDifferencesToString(&diff);
        EXPECT_TRUE(d.Compare(was.findings(i), now.findings(i))) << diff;
      }
      EXPECT_EQ(now.history_size(), was.history_size());
    }
  }

  // Every agent has a live stream to this collector: RequestScan reaches all three, none is "not connected".
  void ExpectAllAgentsConnected() {
    ASSERT_TRUE(WaitForFleet([](const v1::ListHostsResponse& r) {
      return r.hosts_size() == 3 &&
             std::all_of(r.hosts().begin(), r.hosts().end(), [](const v1::HostSummary& h) { return h.connected(); });
    }));
    v1::RequestScanRequest req;
    req.mutable_filter();  // present and empty: every host
    req.set_reason("fleet_restart_test: are the agents back?");
    v1::RequestScanResponse resp;
    const grpc::Status s = fleet()->RequestScan(Ctx().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << Describe(s);
    EXPECT_EQ(resp.requested_size(), 3) << resp.DebugString();
    EXPECT_EQ(resp.not_connected_size(), 0) << resp.DebugString();
  }

  // The collector is stopped with `signal` just as an agent has a fresh report to send: the report may be stored and
  // acknowledged, stored but not acknowledged, or neither, depending on where the signal lands. Whichever it was,
  // what the agent saw acknowledged must be in the store, and after the restart the fleet must converge to the
  // agent's report with exactly one event for the change (a re-sent report makes no second one).
  void StopMidReportAndRestart(int signal, int want_exit) {
    const Snapshot before = Take();
    ASSERT_EQ(before.events.size(), 3u) << EventLines(before.events);
    const std::string agent_address = collector_->agent_address();
    const uint64_t nagent_seq = before.hosts.at(nagent_.hostname).summary().last_sequence();
    Process& agent = *agents_.at(1);  // nagent_
    const size_t disconnects = Count(agent.Log(), "event=disconnected");

    ASSERT_NO_FATAL_FAILURE(RunDpkg(nagent_.root, {"-r", "klnagent64"}));
    const uint64_t staged = WaitForStaged(nagent_, nagent_seq);
    ASSERT_GT(staged, nagent_seq);
    // The signal goes as the report is on the wire (the agent logs the send), so it lands near the collector's
    // commit and ack.
    ASSERT_TRUE(test::WaitFor(
        [&] { return agent.Log().find("event=report_sent sequence=" + std::to_string(staged)) != std::string::npos; },
        kDeadline))
        << agent.Log();
    ASSERT_EQ(collector_->Stop(signal), want_exit);
    // Once the agent has seen its stream end it has handled every ack that reached it.
    ASSERT_TRUE(test::WaitFor([&] { return Count(agent.Log(), "event=disconnected") > disconnects; }, kDeadline))
        << agent.Log();
    const uint64_t acked = AckedSequence(nagent_.state_dir);

    // First on an agent port the agents do not know, so the store is seen as the signal left it.
    ASSERT_TRUE(collector_->Start("127.0.0.1:0"));
    {
      const Snapshot isolated = Take();
      const v1::HostSummary& h = isolated.hosts.at(nagent_.hostname).summary();
      // Which case this run hit (the assertions below hold for each).
      std::cerr << "[ note ] signal " << signal << " as report " << staged << " was sent: "
                << (h.last_sequence() >= staged ? "stored" : "not stored") << ", "
                << (acked >= staged ? "acknowledged" : "not acknowledged") << "\n";
      EXPECT_GE(h.last_sequence(), acked) << "a report the agent saw acknowledged is not in the store";
      ExpectNothingLost(before, isolated, nagent_.hostname);
      if (h.last_sequence() == nagent_seq) {
        EXPECT_EQ(h.verdict(), v1::VERDICT_INSTALLED);
        EXPECT_EQ(isolated.events.size(), before.events.size()) << EventLines(isolated.events);
      } else {
        EXPECT_LE(isolated.events.size(), before.events.size() + 1) << EventLines(isolated.events);
      }
    }
    ASSERT_EQ(collector_->Stop(SIGTERM), 0);

    // Then where the agents look for it.
    ASSERT_TRUE(collector_->Start(agent_address));
    ASSERT_NO_FATAL_FAILURE(ExpectAllAgentsConnected());
    // Converged. (When the report was stored but its ack lost, the agent re-issues the same snapshot above it: a
    // number more, no event more.)
    const uint64_t issued = Converge(nagent_);
    EXPECT_GE(issued, staged);
    const Snapshot after = Take();
    ExpectNothingLost(before, after, nagent_.hostname);
    ASSERT_EQ(after.events.size(), before.events.size() + 1) << "one change, one event:\n"
                                                             << EventLines(after.events);
    const v1::Event& removed = after.events.back();
    EXPECT_EQ(removed.type(), v1::EVENT_TYPE_REMOVED) << EventLine(removed);
    EXPECT_EQ(removed.hostname(), nagent_.hostname);
    EXPECT_GT(removed.sequence(), nagent_seq);
    EXPECT_LE(removed.sequence(), issued);
    EXPECT_EQ(after.hosts.at(nagent_.hostname).summary().verdict(), v1::VERDICT_REMNANT);
    EXPECT_EQ(VerdictCount(after.summary, "REMNANT"), 2);
    EXPECT_EQ(after.summary.affected_hosts(), 0);
  }

  static std::unique_ptr<FixtureDebs> debs_;
  TempDir tmp_{"fleet-restart"};
  FixtureHost kesl_{"kesl", "fleet-r-kesl", "", ""};
  FixtureHost nagent_{"nagent", "fleet-r-nagent", "", ""};
  FixtureHost clean_{"clean", "fleet-r-clean", "", ""};
  std::unique_ptr<CollectorProc> collector_;
  std::vector<std::unique_ptr<Process>> agents_;
};

std::unique_ptr<FixtureDebs> FleetRestartTest::debs_;

TEST_F(FleetRestartTest, GracefulRestartLosesNothingAndAgentsComeBack) {
  const Snapshot before = Take();
  ASSERT_EQ(before.events.size(), 3u) << "DETECTED x2, REMOVED x1:\n" << EventLines(before.events);
  const std::string agent_address = collector_->agent_address();
  const uint64_t kesl_seq = before.hosts.at(kesl_.hostname).summary().last_sequence();

  ASSERT_EQ(collector_->Stop(SIGTERM), 0) << "graceful shutdown exits 0";
  // While it is away, kesl comes back on one host: its agent scans and keeps the report until it can send it.
  ASSERT_NO_FATAL_FAILURE(RunDpkg(kesl_.root, {"-i", Deb("kesl")}));
  const uint64_t staged = WaitForStaged(kesl_, kesl_seq);
  ASSERT_GT(staged, kesl_seq);

  ASSERT_TRUE(collector_->Start(agent_address)) << "the same data folder and agent port";
  ASSERT_NO_FATAL_FAILURE(ExpectAllAgentsConnected());
  const uint64_t issued = Converge(kesl_);
  EXPECT_GE(issued, staged) << "the report staged while the collector was down never arrived";

  const Snapshot after = Take();
  ExpectNothingLost(before, after, kesl_.hostname);
  ASSERT_EQ(after.events.size(), before.events.size() + 1) << EventLines(after.events);
  const v1::Event& back = after.events.back();
  EXPECT_EQ(back.type(), v1::EVENT_TYPE_REAPPEARED) << EventLine(back);
  EXPECT_EQ(back.hostname(), kesl_.hostname);
  EXPECT_EQ(back.product_id(), "kesl");
  EXPECT_EQ(back.old_state(), v1::PRODUCT_STATE_REMNANT);
  EXPECT_EQ(back.new_state(), v1::PRODUCT_STATE_INSTALLED);
  EXPECT_GT(back.sequence(), kesl_seq);
  EXPECT_LE(back.sequence(), issued);
  EXPECT_GT(back.id(), before.events.back().id());
  EXPECT_EQ(after.hosts.at(kesl_.hostname).summary().verdict(), v1::VERDICT_INSTALLED);
  EXPECT_EQ(after.summary.total_hosts(), 3);
  EXPECT_EQ(after.summary.affected_hosts(), 2);

  // The CLI, pointed at the restarted collector's API, agrees.
  v1::Summary cli;
  ASSERT_TRUE(KsweepJson(collector_->api_address(), {"summary"}, &cli));
  EXPECT_EQ(cli.total_hosts(), 3);
  EXPECT_EQ(VerdictCount(cli, "INSTALLED"), 2);
  EXPECT_EQ(VerdictCount(cli, "CLEAN"), 1);
}

TEST_F(FleetRestartTest, KilledCollectorLosesNothingAckedAndAgentsComeBack) {
  const Snapshot before = Take();
  ASSERT_EQ(before.events.size(), 3u) << EventLines(before.events);
  const std::string agent_address = collector_->agent_address();
  const uint64_t nagent_seq = before.hosts.at(nagent_.hostname).summary().last_sequence();

  // No shutdown at all: whatever the fleet API showed was committed and must survive.
  ASSERT_EQ(collector_->Stop(SIGKILL), 128 + SIGKILL);
  ASSERT_NO_FATAL_FAILURE(RunDpkg(nagent_.root, {"-r", "klnagent64"}));
  const uint64_t staged = WaitForStaged(nagent_, nagent_seq);
  ASSERT_GT(staged, nagent_seq);

  ASSERT_TRUE(collector_->Start(agent_address));
  ASSERT_NO_FATAL_FAILURE(ExpectAllAgentsConnected());
  const uint64_t issued = Converge(nagent_);
  EXPECT_GE(issued, staged) << "the report staged while the collector was down never arrived";

  const Snapshot after = Take();
  ExpectNothingLost(before, after, nagent_.hostname);
  ASSERT_EQ(after.events.size(), before.events.size() + 1) << EventLines(after.events);
  const v1::Event& removed = after.events.back();
  EXPECT_EQ(removed.type(), v1::EVENT_TYPE_REMOVED) << EventLine(removed);
  EXPECT_EQ(removed.hostname(), nagent_.hostname);
  EXPECT_EQ(removed.product_id(), "klnagent");
  EXPECT_EQ(removed.old_state(), v1::PRODUCT_STATE_INSTALLED);
  EXPECT_EQ(removed.new_state(), v1::PRODUCT_STATE_REMNANT);
  EXPECT_GT(removed.sequence(), nagent_seq);
  EXPECT_LE(removed.sequence(), issued);
  EXPECT_EQ(after.hosts.at(nagent_.hostname).summary().verdict(), v1::VERDICT_REMNANT);
  EXPECT_EQ(after.summary.total_hosts(), 3);
  EXPECT_EQ(after.summary.affected_hosts(), 0);
  EXPECT_EQ(VerdictCount(after.summary, "REMNANT"), 2);

  // The counters behind GetSummary and GetTrend were not left half-updated by the kill.
  v1::GetTrendRequest treq;
  treq.set_days(1);
  v1::Trend trend;
  ASSERT_TRUE(fleet()->GetTrend(Ctx().get(), treq, &trend).ok());
  ASSERT_EQ(trend.points_size(), 1);
  EXPECT_EQ(trend.points(0).affected_hosts(), 0) << trend.DebugString();
  EXPECT_EQ(trend.points(0).remnant(), 2) << trend.DebugString();
  EXPECT_EQ(trend.points(0).clean(), 1) << trend.DebugString();
}

TEST_F(FleetRestartTest, SigtermAsAReportArrivesLosesNothingAcked) {
  StopMidReportAndRestart(SIGTERM, 0);
}

TEST_F(FleetRestartTest, SigkillAsAReportArrivesLosesNothingAcked) {
  StopMidReportAndRestart(SIGKILL, 128 + SIGKILL);
}

}  // namespace
}  // namespace ksweep::fleet_test
