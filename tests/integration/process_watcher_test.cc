// The daemon's process watcher, one poll at a time (no event loop running, no timing): which names the rules make it
// look for, and what it reports over a fixture /proc (PID/comm files, the seam production reads "/proc" through)
// and over the real /proc with a real process under a name of the test's own.
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/daemon/process_watcher.h"
#include "common/rules.h"
#include "tests/integration/test_util.h"

namespace ksweep {
namespace {

namespace fs = std::filesystem;
using agent::ProcessNameGlobs;
using agent::ProcessWatcher;
using agent::WatchedProcess;
using test::TempDir;
using test::WriteFile;

std::shared_ptr<const v1::RuleSet> RulesWithProcesses(const std::vector<std::string>& patterns) {
  auto rules = std::make_shared<v1::RuleSet>();
  rules->set_version("test");
  auto* product = rules->add_products();
  product->set_id("kesl");
  for (const auto& pattern : patterns) {
    auto* signal = product->add_signals();
    signal->set_kind(v1::SIGNAL_KIND_PROCESS);
    signal->set_pattern(pattern);
    signal->set_strength(v1::STRENGTH_STRONG);
  }
  auto* path = product->add_signals();  // other kinds are not process names
  path->set_kind(v1::SIGNAL_KIND_PATH);
  path->set_pattern("/opt/kaspersky/kesl");
  return rules;
}

TEST(ProcessNameGlobs, NamesAndExecutableFileNames) {
  const auto rules = RulesWithProcesses({"kesl", "kl*", "/opt/kaspersky/kesl/libexec/kesl",
                                         "/opt/kaspersky/ksc64/sbin/klserver_long_daemon_name", "/opt/k/bin/kav?d"});
  EXPECT_EQ(ProcessNameGlobs(*rules), (std::vector<std::string>{"kav?d", "kesl", "kl*", "klserver_long_d"}));
}

TEST(ProcessNameGlobs, BuiltInRulesNameTheKnownDaemons) {
  auto builtin = BuiltinRules();
  ASSERT_TRUE(builtin.ok()) << builtin.status().ToString();
  const auto globs = ProcessNameGlobs(*builtin);
  for (const char* name : {"kesl", "klnagent", "klserver"}) {
    EXPECT_NE(std::find(globs.begin(), globs.end(), name), globs.end()) << name;
  }
}

// A fixture /proc: PID folders with a comm file each, as the kernel writes it (name, newline).
class ProcessWatcherFixture : public ::testing::Test {
 protected:
  void Spawn(int pid, const std::string& comm) { WriteFile(dir_.Sub(std::to_string(pid) + "/comm"), comm + "\n"); }
  void Reap(int pid) { fs::remove_all(dir_.Sub(std::to_string(pid))); }

  std::unique_ptr<ProcessWatcher> Watcher() {
    return std::make_unique<ProcessWatcher>(io_, dir_.path(), std::chrono::seconds(5), [this] { return rules_; },
                                            NullLogger());
  }

  TempDir dir_{"procwatch"};
  boost::asio::io_context io_;
  std::shared_ptr<const v1::RuleSet> rules_ = RulesWithProcesses({"kesl", "klnagent"});
};

TEST_F(ProcessWatcherFixture, StartAndStopOfMatchingProcessesOnly) {
  Spawn(1, "systemd");
  Spawn(412, "sshd");
  Spawn(812, "kesl");
  WriteFile(dir_.Sub("self/comm"), "kesl\n");  // not a PID folder
  WriteFile(dir_.Sub("uptime"), "1.0 1.0\n");
  auto watcher = Watcher();

  EXPECT_EQ(watcher->Poll(), std::nullopt) << "the first poll is the baseline";
  EXPECT_EQ(watcher->matching(), (std::vector<WatchedProcess>{{812, "kesl"}}));
  EXPECT_EQ(watcher->Poll(), std::nullopt);

  Spawn(5000, "bash");  // nothing the rules name
  Reap(412);
  EXPECT_EQ(watcher->Poll(), std::nullopt);

  Spawn(900, "klnagent");
  EXPECT_EQ(watcher->Poll(), "klnagent pid 900 started");
  EXPECT_EQ(watcher->Poll(), std::nullopt);

  Reap(812);
  EXPECT_EQ(watcher->Poll(), "kesl pid 812 stopped");

  // Restarted under a new pid between two polls: still a change (the evidence names the pid).
  Spawn(813, "klnagent");
  Reap(900);
  EXPECT_EQ(watcher->Poll(), "klnagent pid 813 started, klnagent pid 900 stopped");
  EXPECT_EQ(watcher->matching(), (std::vector<WatchedProcess>{{813, "klnagent"}}));
}

TEST_F(ProcessWatcherFixture, SamePidExecingIntoAProductCounts) {
  Spawn(700, "sh");
  auto watcher = Watcher();
  EXPECT_EQ(watcher->Poll(), std::nullopt);
  Spawn(700, "kesl");  // a shell that exec'd kesl keeps its pid
  EXPECT_EQ(watcher->Poll(), "kesl pid 700 started");
}

TEST_F(ProcessWatcherFixture, RulesPushedLaterAreHonoured) {
  Spawn(300, "kavicapd");
  auto watcher = Watcher();
  EXPECT_EQ(watcher->Poll(), std::nullopt);
  EXPECT_TRUE(watcher->matching().empty());

  // New rules naming a process that already runs: reported, so the daemon rescans with them.
  rules_ = RulesWithProcesses({"kav*"});
  EXPECT_EQ(watcher->Poll(), "kavicapd pid 300 started");
  Spawn(301, "kesl");  // no longer named
  EXPECT_EQ(watcher->Poll(), std::nullopt);
}

TEST_F(ProcessWatcherFixture, ManyChangesAreSummarised) {
  auto watcher = Watcher();
  EXPECT_EQ(watcher->Poll(), std::nullopt);
  for (int pid = 100; pid < 120; ++pid) Spawn(pid, "kesl");
  const auto what = watcher->Poll();
  ASSERT_TRUE(what);
  EXPECT_TRUE(what->ends_with(" and 12 more")) << *what;
  EXPECT_EQ(watcher->matching().size(), 20u);
}

TEST_F(ProcessWatcherFixture, UnreadableFolderIsNoChange) {
  auto watcher = std::make_unique<ProcessWatcher>(io_, dir_.Sub("missing"), std::chrono::seconds(5),
                                                  [this] { return rules_; }, NullLogger());
  EXPECT_EQ(watcher->Poll(), std::nullopt);
  EXPECT_EQ(watcher->Poll(), std::nullopt);
  EXPECT_TRUE(watcher->matching().empty());

  // Readable at last: that poll is the baseline, the next one compares with it.
  WriteFile(dir_.Sub("missing/812/comm"), "kesl\n");
  EXPECT_EQ(watcher->Poll(), std::nullopt);
  EXPECT_EQ(watcher->matching(), (std::vector<WatchedProcess>{{812, "kesl"}}));
  WriteFile(dir_.Sub("missing/813/comm"), "kesl\n");
  EXPECT_EQ(watcher->Poll(), "kesl pid 813 started");
}

// The real /proc and a real process, under a name no other test or product uses: a copy of sleep started and killed.
TEST(ProcessWatcherLive, RealProcessStartsAndStops) {
  TempDir dir("procwatch-live");
  const std::string name = "kswpw" + std::to_string(::getpid() % 100000);
  const std::string exe = dir.Sub(name);
  const std::string sleep = ::access("/usr/bin/sleep", X_OK) == 0 ? "/usr/bin/sleep" : "/bin/sleep";
  fs::copy_file(sleep, exe);
  fs::permissions(exe, fs::perms(0755));
  boost::asio::io_context io;
  const auto rules = RulesWithProcesses({name});
  ProcessWatcher watcher(io, "/proc", std::chrono::seconds(5), [&] { return rules; }, NullLogger());
  EXPECT_EQ(watcher.Poll(), std::nullopt);
  EXPECT_TRUE(watcher.matching().empty());

  test::Child child;
  std::string error;
  ASSERT_TRUE(child.Start({exe, "60"}, &error)) << error;
  // The child is forked first and becomes `name` at its exec: poll until then.
  std::optional<std::string> what;
  ASSERT_TRUE(test::WaitFor([&] { return (what = watcher.Poll()).has_value(); }));
  EXPECT_EQ(*what, name + " pid " + std::to_string(child.pid()) + " started");
  EXPECT_EQ(watcher.matching(), (std::vector<WatchedProcess>{{child.pid(), name}}));

  const pid_t pid = child.pid();
  child.Stop();  // SIGKILL and reaped: /proc/PID is gone
  EXPECT_EQ(watcher.Poll(), name + " pid " + std::to_string(pid) + " stopped");
  EXPECT_TRUE(watcher.matching().empty());
}

}  // namespace
}  // namespace ksweep
