// The agent's footprint watchdog (agent/daemon/watchdog.h): the decision on synthetic samples, then the real
// `ksweep-agent run` exiting 75 with a log line naming why when over its memory limit, or kept busy over its CPU
// limit (a dpkg status rewritten in a loop makes it rescan without pause).
#include <gtest/gtest.h>

#include <atomic>

#include "agent/daemon/watchdog.h"
#include "tests/chaos/chaos_harness.h"

namespace ksweep::chaos_test {
namespace {

using agent::ResourceSample;
using agent::WatchdogCheck;
using agent::WatchdogLimits;

ResourceSample At(int64_t wall_ms, int64_t cpu_ms, uint64_t rss_mb = 10) {
  ResourceSample s;
  s.at = std::chrono::steady_clock::time_point(std::chrono::milliseconds(wall_ms));
  s.cpu = std::chrono::milliseconds(cpu_ms);
  s.rss_bytes = rss_mb << 20;
  return s;
}

TEST(Watchdog, MemoryOverTheLimitAtOnce) {
  WatchdogLimits limits;
  WatchdogCheck check(limits, At(0, 0));
  EXPECT_EQ(check.Next(At(10000, 10, 63)), "");
  const std::string why = check.Next(At(20000, 20, 65));
  EXPECT_NE(why.find("memory: resident 68157440 bytes is over the limit of 67108864"), std::string::npos) << why;
}

TEST(Watchdog, CpuOnlyWhenSustained) {
  WatchdogLimits limits;  // 5 %, 3 checks
  WatchdogCheck check(limits, At(0, 0));
  // A scan burst: 30 % for one interval, twice, with a quiet one between: never 3 in a row.
  EXPECT_EQ(check.Next(At(10000, 3000)), "");
  EXPECT_NEAR(check.last_cpu_percent(), 30.0, 0.01);
  EXPECT_EQ(check.Next(At(20000, 6000)), "");
  EXPECT_EQ(check.Next(At(30000, 6100)), "");  // 1 %: the count starts again
  EXPECT_EQ(check.Next(At(40000, 7000)), "");
  EXPECT_EQ(check.Next(At(50000, 8000)), "");
  const std::string why = check.Next(At(60000, 9000));
  EXPECT_NE(why.find("cpu: 10.00% over the last interval, over the limit of 5.00% for 3 checks"), std::string::npos)
      << why;
}

TEST(Watchdog, SamplesThisProcess) {
  const ResourceSample a = agent::SampleSelf();
  volatile uint64_t sink = 0;
  for (uint64_t i = 0; i < 50'000'000; ++i) sink = sink + i;
  const ResourceSample b = agent::SampleSelf();
  EXPECT_GT(a.rss_bytes, uint64_t{1} << 20);
  EXPECT_GT(b.cpu, a.cpu);
  EXPECT_GT(agent::CpuPercent(a, b), 0.0);
}

class WatchdogProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.Sub("root");
    MakeHostRoot(root_, "watchdog-host", 7);
    test::WriteFile(root_ + "/var/lib/dpkg/status", "");
    test::MakeDirs(tmp_.Sub("logs"));
  }

  // The agent against a port nobody listens on: the watchdog does not care whether a collector is there.
  std::unique_ptr<Process> Run(const std::vector<std::string>& extra, const std::string& log = "agent.log") {
    std::vector<std::string> argv = {test::AgentBinary(), "run", "--server", "127.0.0.1:9", "--state-dir",
                                     tmp_.Sub("state"), "--root", root_, "--insecure", "--debounce-ms", "0",
                                     "--log-level", "debug"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<Process>(argv, tmp_.Sub("logs/" + log));
  }

  TempDir tmp_{"watchdog"};
  std::string root_;
};

TEST_F(WatchdogProcessTest, ExitsOverItsMemoryLimit) {
  auto agent = Run({"--max-rss-mb", "1", "--watchdog-interval", "1"});
  ASSERT_EQ(agent->start_error(), "");
  ASSERT_TRUE(test::WaitFor([&] { return !agent->Running(); }, kDeadline)) << Tail(agent->Log());
  EXPECT_EQ(agent->Stop(), agent::kExitWatchdog) << Tail(agent->Log());
  const std::string log = agent->Log();
  EXPECT_NE(log.find("event=watchdog_exit reason=\"memory: resident "), std::string::npos) << Tail(log);
  EXPECT_NE(log.find("over the limit of 1048576\" exit_code=75"), std::string::npos) << Tail(log);
  // The state folder is fine for the next start.
  auto again = Run({"--watchdog-interval", "0"}, "again.log");
  ASSERT_TRUE(test::WaitFor([&] { return again->Log().find("event=scan_done") != std::string::npos; }, kDeadline))
      << Tail(again->Log());
  EXPECT_EQ(again->Stop(SIGTERM), 0);
}

TEST_F(WatchdogProcessTest, ExitsWhenKeptBusyOverItsCpuLimit) {
  auto agent = Run({"--max-cpu-percent", "0.5", "--watchdog-interval", "1"});
  ASSERT_EQ(agent->start_error(), "");
  // Rewriting the package database in place makes the agent rescan each time (debounce 0): a busy agent.
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    for (int i = 0; !stop; ++i) {
      test::WriteFile(root_ + "/var/lib/dpkg/status", "Package: p" + std::to_string(i) + "\n");
    }
  });
  const bool exited = test::WaitFor([&] { return !agent->Running(); }, kDeadline);
  stop = true;
  churn.join();
  ASSERT_TRUE(exited) << Tail(agent->Log());
  EXPECT_EQ(agent->Stop(), agent::kExitWatchdog) << Tail(agent->Log());
  EXPECT_NE(agent->Log().find("event=watchdog_exit reason=\"cpu: "), std::string::npos) << Tail(agent->Log());
}

TEST_F(WatchdogProcessTest, IdleAgentStaysWithinDefaults) {
  auto agent = Run({"--watchdog-interval", "1"});
  ASSERT_EQ(agent->start_error(), "");
  // Three checks of an idle agent (no collector, nothing changing) pass the default limits.
  ASSERT_TRUE(test::WaitFor([&] { return Count(agent->Log(), "event=watchdog_sample") >= 3; }, kDeadline))
      << Tail(agent->Log());
  EXPECT_TRUE(agent->Running());
  EXPECT_EQ(agent->Log().find("watchdog_exit"), std::string::npos);
  EXPECT_EQ(agent->Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace ksweep::chaos_test
