// The real `ksweep-agent run` process against a collector on loopback (tests/integration/daemon_harness.h): the
// protocol order, sequence numbers across reconnects and restarts, rescans on file changes and on ScanNow, backoff
// while the collector is away, rules pushed by the collector, and bad state folders.
#include <google/protobuf/util/message_differencer.h>

#include <regex>

#include "agent/host_facts.h"
#include "common/rules.h"
#include "tests/integration/daemon_harness.h"

namespace ksweep::daemon_test {
namespace {

using test::ReadFile;
using test::TempDir;
using test::WriteFile;
using google::protobuf::util::MessageDifferencer;

bool HasFinding(const v1::HostReport& report, const std::string& product) {
  for (const auto& finding : report.findings()) {
    if (finding.product_id() == product) return true;
  }
  return false;
}

bool HasEvidencePath(const v1::HostReport& report, const std::string& path) {
  for (const auto& finding : report.findings()) {
    for (const auto& evidence : finding.evidence()) {
      if (evidence.path() == path) return true;
    }
  }
  return false;
}

// The first three reconnect delays the agent logged follow gRPC's connection backoff: 1 s, x1.6, +-20% jitter (the
// ranges do not overlap, so each delay is longer than the one before).
void ExpectGrowingBackoff(AgentProcess& agent) {
  const std::regex retry("event=reconnect_scheduled retry_in_ms=([0-9]+)");
  std::vector<long> delays;
  ASSERT_TRUE(WaitUntil([&] {
    delays.clear();
    const std::string log = agent.Log();
    for (auto it = std::sregex_iterator(log.begin(), log.end(), retry); it != std::sregex_iterator(); ++it) {
      delays.push_back(std::stol((*it)[1]));
    }
    return delays.size() >= 3;
  })) << agent.Log();
  EXPECT_GE(delays[0], 800);
  EXPECT_LE(delays[0], 1200);
  EXPECT_GE(delays[1], 1280);
  EXPECT_LE(delays[1], 1920);
  EXPECT_GE(delays[2], 2048);
  EXPECT_LE(delays[2], 3072);
}

class DaemonAgentTest : public ::testing::Test {
 protected:
  void SetUp() override { MakeRoot(root(), "alpha", KeslInstalled()); }

  fs::path root() const { return fs::path(dir_.path()) / "root"; }
  fs::path state() const { return fs::path(dir_.path()) / "state"; }

  std::unique_ptr<AgentProcess> StartAgent(const std::string& server, const fs::path& state_dir,
                                           const std::string& log_name = "agent.log") {
    auto agent = std::make_unique<AgentProcess>(
        std::vector<std::string>{"run", "--server", server, "--state-dir", state_dir.string(), "--root",
                                 root().string(), "--insecure", "--debounce-ms", "200", "--log-level", "debug"},
        fs::path(dir_.path()) / log_name);
    agent->Start();
    return agent;
  }

  // Waits until the collector holds `count` reports in all; the last one.
  std::optional<v1::Report> WaitForReports(TestCollector& collector, size_t count) {
    if (!collector.WaitFor([&](const auto& received) { return ReportsOf(received).size() >= count; })) {
      return std::nullopt;
    }
    return ReportsOf(collector.received()).back();
  }

  TempDir dir_;
};

TEST_F(DaemonAgentTest, HelloFirstThenReportThenHeartbeats) {
  CollectorServer server;
  auto agent = StartAgent(server.address(), state());
  TestCollector& collector = server.collector();

  ASSERT_TRUE(collector.WaitFor([](const auto& received) {
    bool report = false;
    for (const auto& r : received) {
      if (r.message.has_report()) report = true;
      if (report && r.message.has_heartbeat()) return true;
    }
    return false;
  })) << agent->Log();

  const auto messages = MessagesOf(collector.received(), 0);
  ASSERT_TRUE(messages.front().has_hello()) << messages.front().DebugString();
  const v1::Hello& hello = messages.front().hello();
  EXPECT_EQ(hello.host().host_id(), agent::HostIdFromMachineId(kMachineId));
  EXPECT_EQ(hello.host().hostname(), "alpha");
  EXPECT_EQ(hello.agent_version(), KSWEEP_VERSION);
  EXPECT_EQ(hello.rules_version(), BuiltinRules()->version());
  EXPECT_TRUE(hello.has_agent_time());

  const auto reports = ReportsOf(collector.received());
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].sequence(), 1u);
  EXPECT_EQ(reports[0].report().verdict(), v1::VERDICT_INSTALLED);
  EXPECT_TRUE(HasFinding(reports[0].report(), "kesl")) << reports[0].DebugString();
  EXPECT_EQ(reports[0].report().host().host_id(), hello.host().host_id());
  for (const auto& message : messages) {
    if (message.has_heartbeat()) {
      EXPECT_EQ(message.heartbeat().last_sequence(), 1u);
    }
  }

  EXPECT_EQ(agent->Stop(SIGTERM), 0) << agent->Log();
  EXPECT_NE(agent->Log().find("event=stopped"), std::string::npos);
  EXPECT_EQ(ReadFile(state() / "state"), "ksweep-agent-state 1\nsequence 1\nacked 1\n");
}

TEST_F(DaemonAgentTest, ResendsUnackedReportAfterReconnectAndNotAnAckedOne) {
  CollectorServer server;
  TestCollector& collector = server.collector();
  collector.set_ack(false);
  auto agent = StartAgent(server.address(), state());
  ASSERT_TRUE(WaitForReports(collector, 1)) << agent->Log();

  // The stream breaks before the report is acknowledged: the next stream carries it again, unchanged.
  collector.DropStreams();
  ASSERT_TRUE(collector.WaitFor([](const auto& received) { return !ReportsOf(received, 1).empty(); }))
      << agent->Log();
  const auto first = ReportsOf(collector.received(), 0).at(0);
  const auto resent = ReportsOf(collector.received(), 1).at(0);
  EXPECT_TRUE(MessageDifferencer::Equals(first, resent)) << first.DebugString() << resent.DebugString();
  EXPECT_TRUE(MessagesOf(collector.received(), 1).front().has_hello());

  // Acknowledged on the third stream ...
  collector.set_ack(true);
  collector.DropStreams();
  ASSERT_TRUE(collector.WaitFor([](const auto& received) { return !ReportsOf(received, 2).empty(); }))
      << agent->Log();
  ASSERT_TRUE(WaitUntil([&] { return ReadFile(state() / "state").find("acked 1") != std::string::npos; }));

  // ... so the fourth, whose Welcome says the collector has it, gets no report before its first heartbeat.
  collector.DropStreams();
  ASSERT_TRUE(collector.WaitFor([](const auto& received) {
    for (const auto& message : MessagesOf(received, 3)) {
      if (message.has_heartbeat()) return true;
    }
    return false;
  })) << agent->Log();
  for (const auto& message : MessagesOf(collector.received(), 3)) {
    if (message.has_heartbeat()) break;
    EXPECT_FALSE(message.has_report()) << message.DebugString();
  }
  EXPECT_EQ(agent->Stop(), 0);
}

TEST_F(DaemonAgentTest, SequenceSurvivesRestartsAndKill) {
  CollectorServer server;
  TestCollector& collector = server.collector();

  auto first = StartAgent(server.address(), state(), "first.log");
  auto report = WaitForReports(collector, 1);
  ASSERT_TRUE(report) << first->Log();
  EXPECT_EQ(report->sequence(), 1u);
  EXPECT_EQ(first->Stop(SIGTERM), 0);

  // Changed while the agent was down: the next agent's first report continues the numbering.
  WriteFile(root() / "var/lib/dpkg/status", BasePackages());
  auto second = StartAgent(server.address(), state(), "second.log");
  report = WaitForReports(collector, 2);
  ASSERT_TRUE(report) << second->Log();
  EXPECT_EQ(report->sequence(), 2u);
  EXPECT_EQ(report->report().verdict(), v1::VERDICT_CLEAN);
  ASSERT_TRUE(WaitUntil([&] { return ReadFile(state() / "state").find("acked 2") != std::string::npos; }));
  EXPECT_EQ(second->Stop(SIGKILL), 128 + SIGKILL);

  WriteFile(root() / "var/lib/dpkg/status", KeslInstalled());
  auto third = StartAgent(server.address(), state(), "third.log");
  report = WaitForReports(collector, 3);
  ASSERT_TRUE(report) << third->Log();
  EXPECT_EQ(report->sequence(), 3u);
  EXPECT_EQ(report->report().verdict(), v1::VERDICT_INSTALLED);
  EXPECT_EQ(third->Stop(), 0);
}

TEST_F(DaemonAgentTest, RestartResendsLatestWhenCollectorLacksIt) {
  CollectorServer server;
  TestCollector& collector = server.collector();
  auto first = StartAgent(server.address(), state(), "first.log");
  auto report = WaitForReports(collector, 1);
  ASSERT_TRUE(report) << first->Log();
  EXPECT_EQ(first->Stop(), 0);

  // Nothing changed on the host, but the collector lost what it stored: the same report, same number, again.
  collector.set_last_stored_override(0);
  auto second = StartAgent(server.address(), state(), "second.log");
  auto again = WaitForReports(collector, 2);
  ASSERT_TRUE(again) << second->Log();
  EXPECT_EQ(again->sequence(), 1u);
  EXPECT_TRUE(MessageDifferencer::Equals(again->report(), report->report()));
  EXPECT_EQ(second->Stop(), 0);
}

TEST_F(DaemonAgentTest, LostStateFolderContinuesAboveCollectorSequence) {
  CollectorServer server;
  TestCollector& collector = server.collector();
  collector.set_last_stored_override(41);
  auto agent = StartAgent(server.address(), state());
  // Whether the first scan ends before or after the Welcome, what reaches the collector is numbered above 41.
  ASSERT_TRUE(collector.WaitFor([](const auto& received) {
    for (const auto& report : ReportsOf(received)) {
      if (report.sequence() > 41) return true;
    }
    return false;
  })) << agent->Log();
  const auto reports = ReportsOf(collector.received());
  EXPECT_EQ(reports.back().sequence(), 42u);
  EXPECT_EQ(agent->Stop(), 0);
  EXPECT_NE(ReadFile(state() / "state").find("sequence 42\n"), std::string::npos);
}

TEST_F(DaemonAgentTest, LostStateFolderNeverReusesCollectorsNumber) {
  // The collector holds sequence 1 from this host's previous life. A fresh state folder numbers its first snapshot
  // 1 as well (when the scan ends before the Welcome) or 2 (after): either way what the collector receives is 2.
  CollectorServer server;
  TestCollector& collector = server.collector();
  collector.set_last_stored_override(1);
  auto agent = StartAgent(server.address(), state());
  auto report = WaitForReports(collector, 1);
  ASSERT_TRUE(report) << agent->Log();
  EXPECT_EQ(report->sequence(), 2u);
  EXPECT_EQ(report->report().verdict(), v1::VERDICT_INSTALLED);
  EXPECT_EQ(agent->Stop(), 0);
}

TEST_F(DaemonAgentTest, FileChangesTriggerReportsWithinSeconds) {
  CollectorServer server;
  TestCollector& collector = server.collector();
  auto agent = StartAgent(server.address(), state());
  auto report = WaitForReports(collector, 1);
  ASSERT_TRUE(report) << agent->Log();
  EXPECT_EQ(report->report().verdict(), v1::VERDICT_INSTALLED);

  // dpkg rewrites its status file: kesl is gone.
  WriteFile(root() / "var/lib/dpkg/status.tmp", BasePackages());
  fs::rename(root() / "var/lib/dpkg/status.tmp", root() / "var/lib/dpkg/status");
  report = WaitForReports(collector, 2);
  ASSERT_TRUE(report) << agent->Log();
  EXPECT_EQ(report->sequence(), 2u);
  EXPECT_EQ(report->report().verdict(), v1::VERDICT_CLEAN);

  // An install folder appears where there was no /opt at all.
  const fs::path control = root() / "opt/kaspersky/kesl/bin/kesl-control";
  WriteFile(control, "#!/bin/sh\nexit 0\n");
  fs::permissions(control, fs::perms::owner_all | fs::perms::group_read | fs::perms::others_read);
  report = WaitForReports(collector, 3);
  ASSERT_TRUE(report) << agent->Log();
  EXPECT_EQ(report->sequence(), 3u);
  EXPECT_TRUE(HasFinding(report->report(), "kesl")) << report->DebugString();

  // Evidence refined later (the binary appears after the folder was seen) also makes a report.
  ASSERT_TRUE(WaitUntil([&] {
    const auto last = ReportsOf(collector.received()).back();
    return HasEvidencePath(last.report(), "/opt/kaspersky/kesl/bin/kesl-control");
  })) << ReportsOf(collector.received()).back().DebugString();

  // Removed again.
  const size_t before = ReportsOf(collector.received()).size();
  fs::remove_all(root() / "opt/kaspersky");
  ASSERT_TRUE(collector.WaitFor([&](const auto& received) {
    const auto reports = ReportsOf(received);
    return reports.size() > before && reports.back().report().verdict() == v1::VERDICT_CLEAN;
  })) << agent->Log();

  // dpkg's in-place rewrite too (close after write).
  WriteFile(root() / "var/lib/dpkg/status", KeslInstalled());
  ASSERT_TRUE(collector.WaitFor([&](const auto& received) {
    return ReportsOf(received).back().report().verdict() == v1::VERDICT_INSTALLED;
  })) << agent->Log();

  // Numbers only grow.
  const auto reports = ReportsOf(collector.received());
  for (size_t i = 1; i < reports.size(); ++i) EXPECT_GT(reports[i].sequence(), reports[i - 1].sequence());
  EXPECT_EQ(agent->Stop(), 0);
}

TEST_F(DaemonAgentTest, ScanNowRescans) {
  CollectorServer server;
  TestCollector& collector = server.collector();
  auto agent = StartAgent(server.address(), state());
  ASSERT_TRUE(WaitForReports(collector, 1)) << agent->Log();

  // /etc/hostname is not watched: only a scan asked for sees the new name.
  WriteFile(root() / "etc/hostname", "beta\n");
  v1::CollectorMessage scan_now;
  scan_now.mutable_scan_now()->set_reason("test asked");
  ASSERT_TRUE(collector.Push(scan_now));
  auto report = WaitForReports(collector, 2);
  ASSERT_TRUE(report) << agent->Log();
  EXPECT_EQ(report->report().host().hostname(), "beta");
  EXPECT_EQ(report->sequence(), 2u);
  EXPECT_NE(agent->Log().find("event=scan_now reason=\"test asked\""), std::string::npos);
  EXPECT_EQ(agent->Stop(), 0);
}

TEST_F(DaemonAgentTest, BacksOffWhileCollectorIsDownThenDelivers) {
  const int port = FreePort();
  auto agent = StartAgent("127.0.0.1:" + std::to_string(port), state());

  ExpectGrowingBackoff(*agent);

  CollectorServer server(port);
  auto report = WaitForReports(server.collector(), 1);
  ASSERT_TRUE(report) << agent->Log();
  EXPECT_EQ(report->sequence(), 1u);
  EXPECT_EQ(agent->Stop(), 0);
}

TEST_F(DaemonAgentTest, RulesFromCollectorApplyAtOnce) {
  CollectorServer server;
  TestCollector& collector = server.collector();
  auto agent = StartAgent(server.address(), state());
  ASSERT_TRUE(WaitForReports(collector, 1)) << agent->Log();

  v1::CollectorMessage bad;
  bad.mutable_rules()->set_version("broken");  // no products
  ASSERT_TRUE(collector.Push(bad));
  ASSERT_TRUE(agent->WaitForLog("event=rules_refused")) << agent->Log();

  v1::CollectorMessage rules;
  rules.mutable_rules()->set_version("test-rules-7");
  v1::Product* product = rules.mutable_rules()->add_products();
  product->set_id("base");
  product->set_name("Debian base files, flagged for the test");
  product->set_vendor("Debian");
  product->set_platform(v1::PLATFORM_LINUX);
  v1::Signal* signal = product->add_signals();
  signal->set_kind(v1::SIGNAL_KIND_PACKAGE);
  signal->set_pattern("base-files");
  signal->set_strength(v1::STRENGTH_STRONG);
  signal->set_confidence(v1::CONFIDENCE_OFFICIAL);
  ASSERT_TRUE(collector.Push(rules));

  auto report = WaitForReports(collector, 2);
  ASSERT_TRUE(report) << agent->Log();
  EXPECT_EQ(report->report().rules_version(), "test-rules-7");
  EXPECT_TRUE(HasFinding(report->report(), "base")) << report->DebugString();
  EXPECT_FALSE(HasFinding(report->report(), "kesl"));
  EXPECT_EQ(agent->Stop(), 0);
}

TEST_F(DaemonAgentTest, HeartbeatIntervalFromCollector) {
  CollectorServer server;
  TestCollector& collector = server.collector();
  collector.set_heartbeat_seconds(3600);
  auto agent = StartAgent(server.address(), state());
  ASSERT_TRUE(WaitForReports(collector, 1)) << agent->Log();
  v1::CollectorMessage faster;
  faster.mutable_heartbeat()->set_seconds(1);
  ASSERT_TRUE(collector.Push(faster));
  ASSERT_TRUE(collector.WaitFor([](const auto& received) {
    for (const auto& r : received) {
      if (r.message.has_heartbeat()) return true;
    }
    return false;
  })) << agent->Log();
  EXPECT_NE(agent->Log().find("event=heartbeat_interval seconds=1"), std::string::npos);
  EXPECT_EQ(agent->Stop(), 0);
}

TEST_F(DaemonAgentTest, CollectorRefusingReportsIsRetriedWithGrowingDelays) {
  // The Welcome comes every time, the report is refused every time: the backoff must not restart at each Welcome.
  CollectorServer server;
  TestCollector& collector = server.collector();
  collector.set_reject_reports(true);
  auto agent = StartAgent(server.address(), state());
  ExpectGrowingBackoff(*agent);
  EXPECT_GE(StreamsSeen(collector.received()), 3);

  // Accepted once the collector takes it: the same report, same number.
  collector.set_reject_reports(false);
  ASSERT_TRUE(WaitUntil([&] { return ReadFile(state() / "state").find("acked 1\n") != std::string::npos; }))
      << agent->Log();
  for (const auto& report : ReportsOf(collector.received())) EXPECT_EQ(report.sequence(), 1u);
  EXPECT_EQ(agent->Stop(), 0);
}

TEST_F(DaemonAgentTest, CollectorThatNeverWelcomesIsLeftAfterTheTimeout) {
  CollectorServer server;
  TestCollector& collector = server.collector();
  collector.set_welcome(false);
  auto agent = StartAgent(server.address(), state());
  // 30 s (DaemonOptions::welcome_timeout) after the first Hello, the agent gives up on that stream and says Hello
  // on a new one.
  ASSERT_TRUE(collector.WaitFor([](const auto& received) { return StreamsSeen(received) >= 2; }, 90s))
      << agent->Log();
  EXPECT_NE(agent->Log().find("event=welcome_timeout timeout_s=30"), std::string::npos) << agent->Log();
  EXPECT_TRUE(ReportsOf(collector.received()).empty());  // nothing is sent before a Welcome
  collector.set_welcome(true);
  collector.DropStreams();
  ASSERT_TRUE(WaitForReports(collector, 1)) << agent->Log();
  EXPECT_EQ(agent->Stop(), 0);
}

TEST_F(DaemonAgentTest, BadStateFolderExitsTwo) {
  WriteFile(fs::path(dir_.path()) / "not-a-folder", "x");
  auto agent = StartAgent("127.0.0.1:1", fs::path(dir_.path()) / "not-a-folder");
  EXPECT_EQ(agent->Wait(), 2);
  EXPECT_NE(agent->Log().find("not-a-folder"), std::string::npos) << agent->Log();
}

TEST_F(DaemonAgentTest, BadServerAddressExitsTwo) {
  for (const std::string server : {"collector.example", "collector.example:http", "127.0.0.1:70000"}) {
    auto agent = StartAgent(server, state(), "bad-server.log");
    EXPECT_EQ(agent->Wait(), 2) << server;
    EXPECT_NE(agent->Log().find("--server '" + server + "'"), std::string::npos) << agent->Log();
  }
}

TEST_F(DaemonAgentTest, SecondAgentOnSameStateFolderExitsTwo) {
  auto first = StartAgent("127.0.0.1:1", state(), "first.log");
  ASSERT_TRUE(first->WaitForLog("event=started")) << first->Log();
  auto second = StartAgent("127.0.0.1:1", state(), "second.log");
  EXPECT_EQ(second->Wait(), 2);
  EXPECT_NE(second->Log().find("in use by another ksweep-agent (pid " + std::to_string(first->pid()) + ")"),
            std::string::npos)
      << second->Log();
  EXPECT_EQ(first->Stop(), 0);
}

TEST_F(DaemonAgentTest, CorruptStateFileIsSetAside) {
  fs::create_directories(state());
  WriteFile(state() / "state", "sequence banana\n");
  CollectorServer server;
  auto agent = StartAgent(server.address(), state());
  auto report = WaitForReports(server.collector(), 1);
  ASSERT_TRUE(report) << agent->Log();
  EXPECT_EQ(report->sequence(), 1u);
  EXPECT_NE(agent->Log().find("event=state_file_corrupt"), std::string::npos);
  EXPECT_EQ(ReadFile(state() / "state.corrupt"), "sequence banana\n");
  EXPECT_EQ(agent->Stop(), 0);
}

}  // namespace
}  // namespace ksweep::daemon_test
