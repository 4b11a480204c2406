// The daemon's parts on their own, on real files, real inotify and real gRPC: the state store (sequence durability,
// crash between its two files, corrupt files, the lock), the backoff schedule, what counts as a changed report, the
// file watcher over a fixture root, and the stream reactor against a collector that stops reading.
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <cmath>
#include <future>
#include <set>
#include <thread>

#include "agent/daemon/backoff.h"
#include "agent/daemon/collector_stream.h"
#include "agent/daemon/report_compare.h"
#include "agent/daemon/state_store.h"
#include "agent/daemon/watcher.h"
#include "common/rules.h"
#include "tests/integration/daemon_harness.h"
#include "tests/integration/state_store_util.h"

namespace ksweep::daemon_test {
namespace {

using test::At;
using test::OpenStateStore;
using test::ReadFile;
using test::TempDir;
using test::WriteFile;
using agent::Backoff;
using agent::FileWatcher;
using agent::Root;
using agent::SameContent;
using agent::StateStore;

v1::HostReport SampleReport(const std::string& hostname) {
  v1::HostReport report;
  report.mutable_host()->set_host_id("abc");
  report.mutable_host()->set_hostname(hostname);
  report.set_verdict(v1::VERDICT_INSTALLED);
  auto* finding = report.add_findings();
  finding->set_product_id("kesl");
  finding->set_state(v1::PRODUCT_STATE_INSTALLED);
  auto* evidence = finding->add_evidence();
  evidence->set_kind(v1::EVIDENCE_KIND_DPKG_PACKAGE);
  evidence->set_detail("dpkg package kesl 12.1.0-1234 status 'install ok installed'");
  auto* probe = report.add_probes();
  probe->set_name("dpkg");
  probe->set_state(v1::PROBE_STATE_OK);
  probe->set_duration_us(120);
  probe->set_items(300);
  report.mutable_scanned_at()->set_seconds(1000);
  return report;
}

TEST(DaemonStateStore, SequenceAndReportSurviveReopen) {
  TempDir dir;
  const fs::path state = fs::path(dir.path()) / "state";  // created by Open
  {
    auto store = OpenStateStore(state);
    ASSERT_TRUE(store);
    EXPECT_EQ(store->last_sequence(), 0u);
    EXPECT_FALSE(store->latest());
    auto first = store->Stage(SampleReport("a"), At(1));
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    EXPECT_EQ(first->sequence(), 1u);
    auto second = store->Stage(SampleReport("b"), At(2));
    ASSERT_TRUE(second.ok());
    EXPECT_EQ(second->sequence(), 2u);
    ASSERT_TRUE(store->Ack(1).ok());
  }
  EXPECT_EQ(fs::status(state).permissions() & fs::perms::all, fs::perms::owner_all);
  auto store = OpenStateStore(state);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->last_sequence(), 2u);
  EXPECT_EQ(store->acked_sequence(), 1u);
  ASSERT_TRUE(store->latest());
  EXPECT_EQ(store->latest()->report().host().hostname(), "b");
  EXPECT_EQ(store->latest()->agent_time().seconds(), 2);

  ASSERT_EQ(store->ReportsAfter(1).size(), 1u);
  EXPECT_EQ(store->ReportsAfter(1)[0].sequence(), 2u);
  EXPECT_TRUE(store->ReportsAfter(2).empty());

  const Status bogus = store->Ack(9);
  EXPECT_EQ(bogus.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bogus.message().find("never issued"), std::string::npos) << bogus.message();
  EXPECT_EQ(store->acked_sequence(), 1u);

  ASSERT_TRUE(store->AdvanceSequence(40).ok());
  auto next = store->Stage(SampleReport("c"), At(3));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->sequence(), 41u);
}

TEST(DaemonStateStore, CrashBetweenReportAndStateKeepsTheNewerNumber) {
  TempDir dir;
  const fs::path state = fs::path(dir.path()) / "state";
  {
    auto store = OpenStateStore(state);
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->Stage(SampleReport("a"), At(1)).ok());
    ASSERT_TRUE(store->Stage(SampleReport("b"), At(2)).ok());
  }
  // As if the agent died after writing last_report.pb (sequence 2) and before the state file said so.
  WriteFile(state / "state", "ksweep-agent-state 1\nsequence 1\nacked 0\n");
  auto store = OpenStateStore(state);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->last_sequence(), 2u);
  EXPECT_EQ(store->Stage(SampleReport("c"), At(3))->sequence(), 3u);
}

TEST(DaemonStateStore, CorruptFilesAreSetAside) {
  TempDir dir;
  const fs::path state = fs::path(dir.path()) / "state";
  {
    auto store = OpenStateStore(state);
    ASSERT_TRUE(store);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(store->Stage(SampleReport("a"), At(i)).ok());
  }
  // A truncated report: the sequence comes from the state file.
  const std::string report_bytes = ReadFile(state / "last_report.pb");
  WriteFile(state / "last_report.pb", report_bytes.substr(0, report_bytes.size() / 2));
  {
    auto store = OpenStateStore(state);
    ASSERT_TRUE(store);
    EXPECT_EQ(store->last_sequence(), 5u);
    EXPECT_FALSE(store->latest());
    EXPECT_TRUE(fs::exists(state / "last_report.pb.corrupt"));
    ASSERT_TRUE(store->Stage(SampleReport("b"), At(9)).ok());
  }
  // A state file that does not parse, or is far too large: the sequence comes from the report.
  for (const std::string& junk :
       {std::string("ksweep-agent-state 1\nsequence 99x\nacked 0\n"), std::string("ksweep-agent-state 1\n"),
        std::string("ksweep-agent-state 1\nsequence 3\nacked 4\n"), std::string(5000, 'x')}) {
    WriteFile(state / "state", junk);
    auto store = OpenStateStore(state);
    ASSERT_TRUE(store);
    EXPECT_EQ(store->last_sequence(), 6u) << junk;
    EXPECT_EQ(ReadFile(state / "state.corrupt"), junk);
    EXPECT_EQ(ReadFile(state / "state"), "ksweep-agent-state 1\nsequence 6\nacked 0\n");
  }
}

TEST(DaemonStateStore, OneAgentPerFolder) {
  TempDir dir;
  const fs::path state = fs::path(dir.path()) / "state";
  auto first = OpenStateStore(state);
  ASSERT_TRUE(first);
  auto second = StateStore::Open(state.string(), NullLogger());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(second.status().message().find("in use by another ksweep-agent (pid " + std::to_string(::getpid())),
            std::string::npos)
      << second.status().message();
  first.reset();
  EXPECT_TRUE(OpenStateStore(state));
}

TEST(DaemonStateStore, FolderThatIsAFileIsRefused) {
  TempDir dir;
  WriteFile(fs::path(dir.path()) / "file", "x");
  auto store = StateStore::Open((fs::path(dir.path()) / "file").string(), NullLogger());
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("file"), std::string::npos);
  auto below = StateStore::Open((fs::path(dir.path()) / "file/state").string(), NullLogger());
  ASSERT_FALSE(below.ok());
  EXPECT_NE(below.status().message().find("cannot create"), std::string::npos) << below.status().message();
}

TEST(DaemonBackoff, FollowsGrpcSchedule) {
  Backoff backoff({}, /*seed=*/42);
  double base = 1000;
  for (int attempt = 0; attempt < 40; ++attempt) {
    const double delay = static_cast<double>(backoff.Next().count());
    EXPECT_GE(delay, std::floor(base * 0.8)) << "attempt " << attempt;
    EXPECT_LE(delay, std::ceil(base * 1.2)) << "attempt " << attempt;
    base = std::min(base * 1.6, 120000.0);
  }
  backoff.Reset();
  const auto after_reset = backoff.Next().count();
  EXPECT_GE(after_reset, 800);
  EXPECT_LE(after_reset, 1200);
}

TEST(DaemonBackoff, JitterSpreadsAgents) {
  // Agents restarted together must not retry in step.
  std::set<int64_t> firsts;
  for (uint64_t seed = 0; seed < 20; ++seed) firsts.insert(Backoff({}, seed).Next().count());
  EXPECT_GT(firsts.size(), 10u);
}

TEST(DaemonReportCompare, IgnoresRunDetailsOnly) {
  const v1::HostReport a = SampleReport("a");
  v1::HostReport rerun = a;
  rerun.mutable_scanned_at()->set_seconds(2000);
  rerun.mutable_probes(0)->set_duration_us(999);
  rerun.mutable_probes(0)->set_items(301);
  EXPECT_TRUE(SameContent(a, rerun));

  v1::HostReport renamed = a;
  renamed.mutable_host()->set_hostname("b");
  EXPECT_FALSE(SameContent(a, renamed));
  v1::HostReport clean = a;
  clean.clear_findings();
  clean.set_verdict(v1::VERDICT_CLEAN);
  EXPECT_FALSE(SameContent(a, clean));
  v1::HostReport evidence = a;
  evidence.mutable_findings(0)->mutable_evidence(0)->set_detail("dpkg package kesl 12.2.0-1 status 'install ok installed'");
  EXPECT_FALSE(SameContent(a, evidence));
  v1::HostReport failed = a;
  failed.mutable_probes(0)->set_state(v1::PROBE_STATE_FAILED);
  EXPECT_FALSE(SameContent(a, failed));
}

// Drives a FileWatcher over a fixture root on a private event loop.
class DaemonWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MakeRoot(root_path(), "alpha", BasePackages());
    auto created = FileWatcher::Create(io_, NullLogger());
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    watcher_ = std::move(*created);
    watcher_->Start([this](const std::string& path) { changes_.push_back(path); });
    rules_ = *BuiltinRules();
  }

  fs::path root_path() const { return fs::path(dir_.path()) / "root"; }
  void Arm() {
    changes_.clear();
    watcher_->Arm(root_, agent::WatchTargetsFor(rules_, v1::PLATFORM_LINUX));
  }
  // Runs the loop until a change is reported; the path of the first one, or "" at the deadline.
  std::string NextChange() {
    const auto until = std::chrono::steady_clock::now() + kDeadline;
    while (changes_.empty() && std::chrono::steady_clock::now() < until) {
      io_.restart();
      io_.run_for(50ms);
    }
    return changes_.empty() ? "" : changes_.front();
  }

  TempDir dir_;
  boost::asio::io_context io_;
  std::unique_ptr<FileWatcher> watcher_;
  Root root_{(fs::path(dir_.path()) / "root").string()};
  v1::RuleSet rules_;
  std::vector<std::string> changes_;
};

TEST_F(DaemonWatcherTest, MissingFoldersAreWatchedThroughAncestors) {
  const std::string root = root_path().string();
  Arm();
  fs::create_directory(root_path() / "opt");
  EXPECT_EQ(NextChange(), root + "/opt");
  Arm();
  // Only the component that leads to a target counts: an unrelated folder beside it says nothing.
  fs::create_directory(root_path() / "opt/other");
  fs::create_directory(root_path() / "opt/kaspersky");
  EXPECT_EQ(NextChange(), root + "/opt/kaspersky");
  Arm();
  fs::create_directories(root_path() / "opt/kaspersky/kesl/bin");
  EXPECT_EQ(NextChange(), root + "/opt/kaspersky/kesl");
  Arm();
  WriteFile(root_path() / "opt/kaspersky/kesl/bin/README", "not a signal");
  WriteFile(root_path() / "opt/kaspersky/kesl/bin/kesl-control", "#!/bin/sh\n");
  EXPECT_EQ(NextChange(), root + "/opt/kaspersky/kesl/bin/kesl-control");
  Arm();
  fs::remove(root_path() / "opt/kaspersky/kesl/bin/kesl-control");
  EXPECT_EQ(NextChange(), root + "/opt/kaspersky/kesl/bin/kesl-control");
  Arm();
  fs::remove_all(root_path() / "opt/kaspersky");
  EXPECT_NE(NextChange(), "");
}

TEST_F(DaemonWatcherTest, DpkgStatusOnlyNotItsNeighbours) {
  const std::string status = root_path().string() + "/var/lib/dpkg/status";
  Arm();
  WriteFile(root_path() / "var/lib/dpkg/lock-frontend", "");
  WriteFile(root_path() / "var/lib/dpkg/status-old", BasePackages());
  WriteFile(root_path() / "var/lib/dpkg/status", KeslInstalled());  // in place
  EXPECT_EQ(NextChange(), status);
  Arm();
  WriteFile(root_path() / "var/lib/dpkg/status-new", BasePackages());
  fs::rename(root_path() / "var/lib/dpkg/status-new", root_path() / "var/lib/dpkg/status");  // as dpkg does
  EXPECT_EQ(NextChange(), status);
}

TEST_F(DaemonWatcherTest, RpmDatabaseAppearing) {
  Arm();
  fs::create_directories(root_path() / "var/lib/rpm");
  EXPECT_EQ(NextChange(), root_path().string() + "/var/lib/rpm");
  Arm();
  WriteFile(root_path() / "var/lib/rpm/rpmdb.sqlite-shm", "");  // an rpm query may create this: not a change
  WriteFile(root_path() / "var/lib/rpm/rpmdb.sqlite", "");
  EXPECT_EQ(NextChange(), root_path().string() + "/var/lib/rpm/rpmdb.sqlite");
}

TEST_F(DaemonWatcherTest, WatchCountIsBounded) {
  std::vector<agent::WatchTarget> targets;
  for (size_t i = 0; i < agent::kMaxWatches + 50; ++i) {
    const std::string dir = "/many/d" + std::to_string(i);
    fs::create_directories(root_path() / dir.substr(1));
    targets.push_back({dir, "", false});
  }
  watcher_->Arm(root_, targets);
  EXPECT_EQ(watcher_->watch_count(), agent::kMaxWatches);
  // Re-arming replaces, it does not pile up.
  watcher_->Arm(root_, agent::WatchTargetsFor(rules_, v1::PLATFORM_LINUX));
  EXPECT_LT(watcher_->watch_count(), agent::kMaxWatches);
}

TEST(DaemonCollectorStream, StalledStreamIsCancelledPastTheQueueLimit) {
  // A collector that stops reading: 1 MiB messages fill HTTP/2 flow control, then the queue, then the stream is
  // cancelled (the daemon reconnects and re-sends from the state folder).
  CollectorServer server;
  server.collector().set_reading(false);
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread loop([&] { io.run(); });

  std::atomic<bool> welcomed{false};
  std::promise<grpc::Status> done;
  v1::AgentMessage hello;
  hello.mutable_hello()->mutable_host()->set_host_id("stalled");
  auto stream = agent::CollectorStream::Start(
      grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()), io.get_executor(), hello,
      [&](v1::CollectorMessage message) { welcomed = welcomed || message.has_welcome(); },
      [&](const grpc::Status& status) { done.set_value(status); });
  ASSERT_TRUE(WaitUntil([&] { return welcomed.load(); }));

  v1::AgentMessage big;
  big.mutable_report()->set_sequence(1);
  big.mutable_report()->mutable_report()->add_warnings(std::string(size_t{1} << 20, 'x'));
  size_t accepted = 0;
  while (accepted < 1000 && stream->Send(big)) ++accepted;
  EXPECT_LT(accepted, 1000u);
  EXPECT_GT(accepted, agent::kMaxQueuedMessages);
  EXPECT_FALSE(stream->Send(big));  // closing: nothing more is taken

  auto finished = done.get_future();
  ASSERT_EQ(finished.wait_for(kDeadline), std::future_status::ready);
  EXPECT_EQ(finished.get().error_code(), grpc::StatusCode::CANCELLED);
  stream.reset();
  work.reset();
  loop.join();
}

TEST(DaemonWatchTargets, FromRules) {
  const auto targets = agent::WatchTargetsFor(*BuiltinRules(), v1::PLATFORM_LINUX);
  auto has = [&](const std::string& dir, const std::string& name) {
    for (const auto& t : targets) {
      if (t.dir == dir && t.name_glob == name) return true;
    }
    return false;
  };
  EXPECT_TRUE(has("/var/lib/dpkg", "status"));
  EXPECT_TRUE(has("/usr/lib/sysimage/rpm", "rpmdb.sqlite"));
  EXPECT_TRUE(has("/etc/systemd/system", ""));
  EXPECT_TRUE(has("/opt/kaspersky", ""));
  EXPECT_TRUE(has("/opt/kaspersky/kesl/bin", "kesl-control"));  // a BINARY signal
  EXPECT_TRUE(has("/opt/kaspersky", "kesl"));                    // a PATH signal
}

}  // namespace
}  // namespace ksweep::daemon_test
