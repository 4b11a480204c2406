// A Kaspersky process starting or stopping on the live root reaches the collector within seconds, long before the
// interval scan (an hour here): the real `ksweep-agent run` on "/" polls process names (agent/daemon/
// process_watcher.h) and rescans. The process is a copy of sleep named `kesl`; the test relies only on the process
// evidence, whatever this machine's package database holds. No file the agent watches changes on the way, so
// nothing but the poll can trigger these scans.
// Runs under RESOURCE_LOCK live_root (tests/e2e/CMakeLists.txt): the fake kesl must never meet the clean-host tests.
#include "tests/e2e/fleet_harness.h"

namespace ksweep::fleet_test {
namespace {

// The evidence that the collector's view of the host shows process `pid` running as `product`.
const v1::Evidence* ProcessEvidence(const v1::Host& host, const std::string& product, pid_t pid) {
  for (const auto& f : host.findings()) {
    if (f.product_id() != product) continue;
    for (const auto& e : f.evidence()) {
      if (e.kind() == v1::EVIDENCE_KIND_PROCESS && e.pid() == pid) return &e;
    }
  }
  return nullptr;
}

const v1::Finding* FindingOf(const v1::Host& host, const std::string& product) {
  for (const auto& f : host.findings()) {
    if (f.product_id() == product) return &f;
  }
  return nullptr;
}

class ProcessWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::MakeDirs(tmp_.Sub("logs"));
    collector_ = std::make_unique<CollectorProc>(tmp_.Sub("data"), tmp_.Sub("logs/collector.log"));
    ASSERT_TRUE(collector_->Start());
    // Polled every second; the interval scan (3600 s +-10 %) cannot happen during the test.
    agent_ = StartAgent(collector_->agent_address(), "/", tmp_.Sub("state"), tmp_.Sub("logs/agent.log"),
                        {"--scan-interval", "3600", "--process-poll-seconds", "1"});
    ASSERT_EQ(agent_->start_error(), "");
  }

  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "--- collector log\n" << (collector_ ? Tail(collector_->Log()) : "") << "\n";
      if (agent_) std::cerr << "--- agent log\n" << Tail(agent_->Log()) << "\n";
    }
    if (agent_) {
      EXPECT_EQ(agent_->Stop(), 0);
    }
    if (collector_) {
      EXPECT_EQ(collector_->Stop(), 0);
    }
  }

  // The collector's view of the only host, once `done` holds for it (polled up to kDeadline).
  ::testing::AssertionResult WaitForHost(const std::function<bool(const v1::Host&)>& done, v1::Host* out) {
    const bool ok = test::WaitFor(
        [&] {
          v1::ListHostsResponse hosts;
          if (!collector_->fleet()->ListHosts(Ctx().get(), v1::ListHostsRequest(), &hosts).ok() ||
              hosts.hosts_size() != 1) {
            return false;
          }
          v1::GetHostRequest req;
          req.set_host(hosts.hosts(0).host_id());
          out->Clear();
          return collector_->fleet()->GetHost(Ctx().get(), req, out).ok() && done(*out);
        },
        kDeadline);
    if (ok) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "not within " << kDeadline.count() << " ms; last seen:\n"
                                         << out->DebugString();
  }

  TempDir tmp_{"procwatch-e2e"};
  std::unique_ptr<CollectorProc> collector_;
  std::unique_ptr<Process> agent_;
};

TEST_F(ProcessWatchTest, KeslStartingAndStoppingReachesTheCollectorWithinSeconds) {
  v1::Host host;
  ASSERT_TRUE(WaitForHost([](const v1::Host& h) { return h.summary().last_sequence() >= 1; }, &host));
  const v1::Finding* before = FindingOf(host, "kesl");
  ASSERT_TRUE(before == nullptr || before->state() != v1::PRODUCT_STATE_RUNNING)
      << "a kesl process already runs on this machine; the test needs one that does not:\n"
      << before->DebugString();
  const v1::Verdict verdict_without = host.summary().verdict();

  FakeDaemon kesl(tmp_, "kesl");
  ASSERT_EQ(kesl.error(), "");
  const pid_t pid = kesl.pid();
  ASSERT_TRUE(WaitForHost([&](const v1::Host& h) { return ProcessEvidence(h, "kesl", pid) != nullptr; }, &host));
  const v1::Finding* running = FindingOf(host, "kesl");
  ASSERT_NE(running, nullptr);
  EXPECT_EQ(running->state(), v1::PRODUCT_STATE_RUNNING);
  EXPECT_EQ(host.summary().verdict(), v1::VERDICT_RUNNING);
  const std::string log = agent_->Log();
  EXPECT_NE(log.find("event=processes_changed what=\"kesl pid " + std::to_string(pid) + " started\""),
            std::string::npos);
  EXPECT_NE(log.find("event=scan_done reason=processes_changed"), std::string::npos);
  EXPECT_EQ(log.find("reason=interval"), std::string::npos);

  kesl.Stop();  // SIGKILL and reaped
  ASSERT_TRUE(WaitForHost(
      [&](const v1::Host& h) {
        const v1::Finding* f = FindingOf(h, "kesl");
        return ProcessEvidence(h, "kesl", pid) == nullptr && (f == nullptr || f->state() != v1::PRODUCT_STATE_RUNNING);
      },
      &host));
  EXPECT_EQ(host.summary().verdict(), verdict_without);
  EXPECT_NE(agent_->Log().find("event=processes_changed what=\"kesl pid " + std::to_string(pid) + " stopped\""),
            std::string::npos);
  // The collector's history says it too: kesl went from running to something less (removed, or installed).
  bool left_running = false;
  for (const auto& e : host.history()) {
    left_running = left_running || (e.product_id() == "kesl" && e.old_state() == v1::PRODUCT_STATE_RUNNING);
  }
  EXPECT_TRUE(left_running) << host.DebugString();
}

}  // namespace
}  // namespace ksweep::fleet_test
