// Fault injection against real processes: `ksweep-collector serve` and `ksweep-agent run` on fixture roots whose
// one product (kesl) the real dpkg removes and installs while the test kills the collector (SIGKILL, many times),
// cuts the network (a TCP proxy that stalls or drops), or kills agents as they write their spool. Every test ends
// the same way: each change made on each host is in the collector's history exactly once, in order, and the stored
// findings equal a fresh `ksweep-agent scan` of the root. Figures for docs/RELIABILITY.md are printed as one
// "RELIABILITY ..." line per test. Random schedules use a seed printed with the figures.
#include <google/protobuf/util/time_util.h>
#include <sqlite3.h>
#include <sys/mount.h>

#include "ksweep/v1/agent.grpc.pb.h"

#include <algorithm>
#include <iostream>

#include "tests/chaos/chaos_harness.h"

namespace ksweep::chaos_test {
namespace {

using Clock = std::chrono::steady_clock;

// One thread per host making `changes` dpkg changes (kesl removed, installed, ...), each waited for in the agent's
// spool, while the test breaks things around them.
class HostDrivers {
 public:
  HostDrivers(std::vector<ChaosHost>& hosts, int changes, const std::string& kesl_deb)
      : running_(static_cast<int>(hosts.size())), errors_(hosts.size()) {
    for (size_t i = 0; i < hosts.size(); ++i) {
      threads_.emplace_back([this, &host = hosts[i], &error = errors_[i], changes, kesl_deb] {
        for (int c = 0; c < changes && error.empty(); ++c) {
          if (auto r = Toggle(host, kesl_deb); !r) error = r.message();
        }
        --running_;
      });
    }
  }
  HostDrivers(const HostDrivers&) = delete;
  HostDrivers& operator=(const HostDrivers&) = delete;
  ~HostDrivers() { Join(); }

  bool running() const { return running_ > 0; }

  // Waits for every driver; the drivers' errors, one a line, "" when every change was made and spooled.
  std::string Join() {
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    std::string errors;
    for (const auto& e : errors_) {
      if (!e.empty()) errors += e + "\n";
    }
    return errors;
  }

 private:
  std::atomic<int> running_;
  std::vector<std::string> errors_;
  std::vector<std::thread> threads_;
};

class ChaosTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { debs_ = std::make_unique<FixtureDebs>("chaos-debs"); }
  static void TearDownTestSuite() { debs_.reset(); }
  static std::string KeslDeb() { return debs_->Deb("kesl"); }

  void SetUp() override {
    ASSERT_EQ(debs_->error(), "");
    seed_ = std::random_device{}();
    rng_.seed(seed_);
    test::MakeDirs(tmp_.Sub("logs"));
  }

  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "seed=" << seed_ << "\n--- collector log\n" << Tail(collector_ ? collector_->Log() : "", 6000)
                << "\n";
      for (const auto& h : hosts_) std::cerr << "--- " << h.log << "\n" << Tail(ReadOrEmpty(h.log), 3000) << "\n";
    }
    for (auto& h : hosts_) h.agent.reset();
    if (collector_) collector_->Stop(SIGKILL);
    if (!mounted_.empty()) ::umount2(mounted_.c_str(), MNT_DETACH);
  }

  // `n` hosts with kesl installed by dpkg; agents not started.
  void MakeHosts(int n) {
    for (int i = 0; i < n; ++i) {
      ChaosHost h;
      h.name = "h" + std::to_string(i);
      h.hostname = "chaos-" + h.name;
      h.root = tmp_.Sub("roots/" + h.name);
      h.state_dir = tmp_.Sub("state/" + h.name);
      h.log = tmp_.Sub("logs/agent-" + h.name + ".log");
      MakeHostRoot(h.root, h.hostname, 100 + i);
      const ProcessResult r = Dpkg(h.root, {"-i", KeslDeb()});
      ASSERT_TRUE(r.Exited(0)) << r.Describe();
      hosts_.push_back(std::move(h));
    }
  }

  void StartCollector(const std::string& agent_listen = "127.0.0.1:0") {
    if (!collector_) collector_ = std::make_unique<CollectorProc>(tmp_.Sub("data"), tmp_.Sub("logs/collector.log"));
    ASSERT_TRUE(collector_->Start(agent_listen));
  }

  // One "RELIABILITY ..." line on stdout for docs/RELIABILITY.md, and the same in the test's XML report.
  void Publish(const Figures& figures, const std::string& test) {
    std::cout << figures.Line(test) << std::endl;
    RecordProperty("figures", figures.Line(test));
  }

  std::chrono::milliseconds Random(int from_ms, int to_ms) {
    return std::chrono::milliseconds(std::uniform_int_distribution<int>(from_ms, to_ms)(rng_));
  }

  // Fetches the whole history into `events`; true when every host converged (Converged in chaos_harness.h).
  bool AllConverged(std::vector<v1::Event>* events) {
    if (!ListAllEvents(collector_->fleet(), "", events).ok()) return false;
    return std::all_of(hosts_.begin(), hosts_.end(), [&](const ChaosHost& h) { return Converged(*events, h); });
  }

  // Every host's first report stored: kesl DETECTED once.
  void WaitForFirstReports() {
    std::vector<v1::Event> events;
    ASSERT_TRUE(test::WaitFor([&] { return AllConverged(&events); }, kDeadline)) << EventLines(events);
  }

  // Polls until every host converged (history exact, every report acknowledged), then checks the stored findings
  // against a fresh scan of each root. Fills the figures.
  void ExpectConverged(Figures* figures) {
    const auto started = Clock::now();
    std::vector<v1::Event> events;
    const bool ok = test::WaitFor([&] { return AllConverged(&events); }, kConvergeDeadline);
    figures->converge_s =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count() / 1000.0;
    for (const auto& h : hosts_) {
      const HistoryCheck c = CheckHistory(events, h);
      figures->changes += h.changes;
      figures->delivered += c.kesl_events - 1;
      figures->duplicates += c.duplicates;
      EXPECT_EQ(c.problem, "") << h.hostname;
      EXPECT_EQ(c.duplicates, 0) << h.hostname;
      EXPECT_EQ(c.kesl_events, 1 + h.changes) << h.hostname << ": first DETECTED plus one event per change";
      EXPECT_EQ(StateValue(h.state_dir, "acked"), StateValue(h.state_dir, "sequence")) << h.hostname;
    }
    EXPECT_TRUE(ok) << "not converged within " << kConvergeDeadline.count() << " ms; events:\n" << EventLines(events);
    // Verdicts and findings equal each host's local truth.
    for (const auto& h : hosts_) {
      const test::AgentScan scan = test::ScanRoot(h.root);
      ASSERT_TRUE(scan.parsed) << scan.parse_error << " " << scan.process.Describe();
      v1::Host stored;
      EXPECT_TRUE(WaitForFindings(collector_->fleet(), h.hostname, scan.report, &stored));
      EXPECT_EQ(stored.summary().verdict(), scan.report.verdict()) << h.hostname;
    }
  }

  static std::unique_ptr<FixtureDebs> debs_;
  TempDir tmp_{"chaos"};
  unsigned seed_ = 0;
  std::mt19937 rng_;
  std::unique_ptr<CollectorProc> collector_;
  std::vector<ChaosHost> hosts_;
  std::string mounted_;  // a tmpfs this test mounted, unmounted in TearDown
};

std::unique_ptr<FixtureDebs> ChaosTest::debs_;

// N agents change their hosts while the collector is killed (SIGKILL) again and again, at random moments, and
// restarted on the same data folder and port. Whatever an agent saw acknowledged before a kill must be stored after
// it; at the end every change is in history exactly once.
TEST_F(ChaosTest, CollectorKilledRepeatedlyDuringIngest) {
  constexpr int kHosts = 3;
  constexpr int kChangesPerHost = 8;
  constexpr int kMinKills = 8;
  ASSERT_NO_FATAL_FAILURE(MakeHosts(kHosts));
  ASSERT_NO_FATAL_FAILURE(StartCollector());
  const std::string agent_address = collector_->agent_address();
  for (auto& h : hosts_) h.StartAgentOn(agent_address);
  ASSERT_NO_FATAL_FAILURE(WaitForFirstReports());

  HostDrivers drivers(hosts_, kChangesPerHost, KeslDeb());
  int kills = 0;
  int acked_checks = 0;
  std::string lost;
  while (drivers.running() || kills < kMinKills) {
    std::this_thread::sleep_for(Random(100, 900));  // the chaos schedule, not a synchronisation
    std::map<std::string, uint64_t> acked;
    for (const auto& h : hosts_) acked[h.hostname] = StateValue(h.state_dir, "acked");
    ASSERT_EQ(collector_->Stop(SIGKILL), 128 + SIGKILL);
    ++kills;
    std::this_thread::sleep_for(Random(0, 600));
    ASSERT_NO_FATAL_FAILURE(StartCollector(agent_address));
    // Nothing acknowledged before the kill is missing after it.
    for (const auto& [hostname, sequence] : acked) {
      if (sequence == 0) continue;
      v1::GetHostRequest req;
      req.set_host(hostname);
      v1::Host host;
      const grpc::Status s = collector_->fleet()->GetHost(Ctx().get(), req, &host);
      ++acked_checks;
      if (!s.ok() || host.summary().last_sequence() < sequence) {
        lost += hostname + " acked " + std::to_string(sequence) + " before kill " + std::to_string(kills) +
                ", stored " + std::to_string(host.summary().last_sequence()) + " (" + Describe(s) + ")\n";
      }
    }
  }
  ASSERT_EQ(drivers.Join(), "");
  EXPECT_EQ(lost, "");

  Figures figures;
  ExpectConverged(&figures);
  EXPECT_EQ(figures.changes, kHosts * kChangesPerHost);
  figures.extra = "hosts=" + std::to_string(kHosts) + " collector_kills=" + std::to_string(kills) +
                  " acked_checks=" + std::to_string(acked_checks) + " seed=" + std::to_string(seed_);
  Publish(figures, "collector_sigkill");
}

// The network between agents and collector is cut again and again by a proxy that stalls connections (bytes held,
// nothing closed) or drops them (connections closed, new ones refused), while hosts change. Agents spool, reconnect
// with backoff and deliver; nothing is lost or doubled.
TEST_F(ChaosTest, NetworkCutByProxy) {
  constexpr int kHosts = 3;
  constexpr int kChangesPerHost = 6;
  constexpr int kMinCuts = 8;
  ASSERT_NO_FATAL_FAILURE(MakeHosts(kHosts));
  ASSERT_NO_FATAL_FAILURE(StartCollector());
  ChaosProxy proxy(collector_->agent_address());
  for (auto& h : hosts_) h.StartAgentOn(proxy.address());
  ASSERT_NO_FATAL_FAILURE(WaitForFirstReports());

  HostDrivers drivers(hosts_, kChangesPerHost, KeslDeb());
  int stalls = 0, drops = 0;
  while (drivers.running() || stalls + drops < kMinCuts) {
    const bool stall = std::uniform_int_distribution<int>(0, 1)(rng_) == 0;
    proxy.SetMode(stall ? ChaosProxy::Mode::kStall : ChaosProxy::Mode::kDrop);
    (stall ? stalls : drops)++;
    std::this_thread::sleep_for(Random(300, 2000));  // the outage
    proxy.SetMode(ChaosProxy::Mode::kForward);
    std::this_thread::sleep_for(Random(100, 1000));
  }
  ASSERT_EQ(drivers.Join(), "");

  Figures figures;
  ExpectConverged(&figures);
  EXPECT_EQ(figures.changes, kHosts * kChangesPerHost);
  figures.extra = "hosts=" + std::to_string(kHosts) + " stalls=" + std::to_string(stalls) + " drops=" +
                  std::to_string(drops) + " connections=" + std::to_string(proxy.accepted()) +
                  " connections_cut=" + std::to_string(proxy.dropped()) + " seed=" + std::to_string(seed_);
  Publish(figures, "network_cut");
}

// Agents killed (SIGKILL) at random moments around their spool writes, many times, first while the collector is
// down (changes pile up in the spool across agent restarts), then with it back. No spool file is ever damaged by a
// kill (temp, fsync, rename), every agent starts again, and every change arrives once, carrying the agent time it was
// first seen (during the outage) while the collector stamps when it received it.
TEST_F(ChaosTest, AgentKilledWhileSpooling) {
  constexpr int kHosts = 2;
  constexpr int kKillsPerHost = 14;
  ASSERT_NO_FATAL_FAILURE(MakeHosts(kHosts));
  ASSERT_NO_FATAL_FAILURE(StartCollector());
  const std::string agent_address = collector_->agent_address();
  for (auto& h : hosts_) h.StartAgentOn(agent_address);
  ASSERT_NO_FATAL_FAILURE(WaitForFirstReports());

  ASSERT_EQ(collector_->Stop(SIGKILL), 128 + SIGKILL);
  const auto down_at = std::chrono::system_clock::now();
  std::chrono::system_clock::time_point up_at;
  int changes_while_down = 0;
  int kills = 0;
  for (int round = 0; round < kKillsPerHost; ++round) {
    if (round == kKillsPerHost / 2) {
      up_at = std::chrono::system_clock::now();
      ASSERT_NO_FATAL_FAILURE(StartCollector(agent_address));
    }
    for (auto& h : hosts_) {
      const ProcessResult r = h.installed ? Dpkg(h.root, {"-r", "kesl"}) : Dpkg(h.root, {"-i", KeslDeb()});
      ASSERT_TRUE(r.Exited(0)) << r.Describe();
      h.installed = !h.installed;
      ++h.changes;
      if (round < kKillsPerHost / 2) ++changes_while_down;
    }
    // Debounce (200 ms) + scan + spool write fall somewhere in here. Each agent has come up first, so its start
    // line can be counted: a kill must never be what stops an agent from starting again.
    for (auto& h : hosts_) {
      ASSERT_TRUE(test::WaitFor([&] { return Count(ReadOrEmpty(h.log), "event=started ") == h.agent_starts; },
                                kDeadline))
          << h.hostname << "\n" << Tail(ReadOrEmpty(h.log), 3000);
    }
    std::this_thread::sleep_for(Random(0, 500));
    for (auto& h : hosts_) {
      ASSERT_EQ(h.agent->Stop(SIGKILL), 128 + SIGKILL) << h.hostname;
      ++kills;
      h.StartAgentOn(agent_address);
    }
    // The change reaches the spool, by the killed agent or by the new one's first scan.
    for (auto& h : hosts_) {
      ASSERT_TRUE(test::WaitFor([&] { return h.Staged(); }, kDeadline)) << h.hostname << "\n"
                                                                         << Tail(ReadOrEmpty(h.log), 3000);
    }
  }
  Figures figures;
  ExpectConverged(&figures);
  for (const auto& h : hosts_) {
    // Never damaged by a kill, and every start came up.
    for (const auto& e : fs::recursive_directory_iterator(h.state_dir)) {
      EXPECT_EQ(e.path().string().find(".corrupt"), std::string::npos) << e.path();
    }
    EXPECT_TRUE(test::WaitFor([&] { return Count(ReadOrEmpty(h.log), "event=started ") == h.agent_starts; },
                              kDeadline))
        << h.hostname << ": " << Count(ReadOrEmpty(h.log), "event=started ") << " starts logged of "
        << h.agent_starts;
  }
  // Changes made while the collector was down carry the agent time they were first seen, before it came back; the
  // collector's time says when it got them.
  std::vector<v1::Event> events;
  ASSERT_TRUE(ListAllEvents(collector_->fleet(), "", &events).ok());
  int seen_while_down = 0;
  std::string timeline;  // for the failure message: each kesl event's agent time and receive time around the outage
  auto since_down = [&](std::chrono::system_clock::time_point t) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(t - down_at).count()) + "ms";
  };
  for (const auto& e : events) {
    const auto agent_time = std::chrono::system_clock::time_point(
        std::chrono::microseconds(google::protobuf::util::TimeUtil::TimestampToMicroseconds(e.agent_time())));
    const auto time = std::chrono::system_clock::time_point(
        std::chrono::microseconds(google::protobuf::util::TimeUtil::TimestampToMicroseconds(e.time())));
    if (e.product_id() == "kesl") {
      timeline += "  " + EventLine(e) + " agent_time=" + since_down(agent_time) + " time=" + since_down(time) + "\n";
    }
    if (e.product_id() == "kesl" && agent_time > down_at && agent_time < up_at) {
      ++seen_while_down;
      EXPECT_GE(time, up_at) << EventLine(e);
    }
  }
  EXPECT_EQ(seen_while_down, changes_while_down) << "collector up at " << since_down(up_at) << "\n" << timeline;
  figures.extra = "hosts=" + std::to_string(kHosts) + " agent_kills=" + std::to_string(kills) +
                  " changes_while_collector_down=" + std::to_string(changes_while_down) + " seed=" +
                  std::to_string(seed_);
  Publish(figures, "agent_sigkill");
}

// An agent whose clock is a year ahead, then a year behind, then at the epoch: history stays in the order the
// collector received the reports (its own receive time orders it; the agent's time is kept for reference), and a
// report sent again, also after the collector was SIGKILLed, is acknowledged as a duplicate: no new event, no
// double count.
TEST_F(ChaosTest, SkewedAgentClockAndRepeatedReports) {
  ASSERT_NO_FATAL_FAILURE(StartCollector());
  const std::string agent_address = collector_->agent_address();
  v1::HostFacts facts;
  facts.set_host_id("chaos-skewed-id");
  facts.set_hostname("chaos-skewed");
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  constexpr int64_t kYear = 365 * 24 * 3600;
  struct Step {
    uint64_t sequence;
    bool kesl;
    int64_t agent_seconds;
  };
  const std::vector<Step> steps = {{1, true, now + kYear}, {2, false, now - kYear}, {3, true, 1}};
  auto report = [&](const Step& step) {
    v1::AgentMessage m;
    v1::Report* r = m.mutable_report();
    r->set_sequence(step.sequence);
    r->mutable_agent_time()->set_seconds(step.agent_seconds);
    *r->mutable_report()->mutable_host() = facts;
    r->mutable_report()->set_verdict(step.kesl ? v1::VERDICT_INSTALLED : v1::VERDICT_CLEAN);
    r->mutable_report()->set_agent_version("chaos");
    if (step.kesl) {
      v1::Finding* f = r->mutable_report()->add_findings();
      f->set_product_id("kesl");
      f->set_state(v1::PRODUCT_STATE_INSTALLED);
      f->set_version("12.1");
    }
    return m;
  };
  // One stream: Hello, the Welcome's last stored sequence, then each report and its ack.
  auto session = [&](uint64_t want_stored, const std::vector<Step>& send, const std::vector<bool>& duplicates) {
    auto stub = v1::AgentService::NewStub(grpc::CreateChannel(agent_address, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kDeadline);
    auto stream = stub->Connect(&ctx);
    v1::AgentMessage hello;
    *hello.mutable_hello()->mutable_host() = facts;
    hello.mutable_hello()->set_agent_version("chaos");
    ASSERT_TRUE(stream->Write(hello));
    v1::CollectorMessage in;
    ASSERT_TRUE(stream->Read(&in));
    ASSERT_TRUE(in.has_welcome()) << in.DebugString();
    EXPECT_EQ(in.welcome().last_stored_sequence(), want_stored);
    for (size_t i = 0; i < send.size(); ++i) {
      ASSERT_TRUE(stream->Write(report(send[i])));
      ASSERT_TRUE(stream->Read(&in));
      ASSERT_TRUE(in.has_ack()) << in.DebugString();
      EXPECT_EQ(in.ack().sequence(), send[i].sequence);
      EXPECT_EQ(in.ack().duplicate(), duplicates[i]) << "sequence " << send[i].sequence;
    }
    stream->WritesDone();
    ctx.TryCancel();
    (void)stream->Finish();
  };

  const auto before = std::chrono::system_clock::now();
  ASSERT_NO_FATAL_FAILURE(session(0, {steps[0], steps[1], steps[2], steps[2]}, {false, false, false, true}));
  const auto after = std::chrono::system_clock::now();
  ASSERT_EQ(collector_->Stop(SIGKILL), 128 + SIGKILL);
  ASSERT_NO_FATAL_FAILURE(StartCollector(agent_address));
  ASSERT_NO_FATAL_FAILURE(session(3, {steps[2]}, {true}));

  std::vector<v1::Event> events;
  ASSERT_TRUE(ListAllEvents(collector_->fleet(), "chaos-skewed", &events).ok());
  ASSERT_EQ(events.size(), 3u) << EventLines(events);
  const std::vector<v1::EventType> types = {v1::EVENT_TYPE_DETECTED, v1::EVENT_TYPE_REMOVED,
                                            v1::EVENT_TYPE_REAPPEARED};
  auto micros = [](const google::protobuf::Timestamp& t) {
    return google::protobuf::util::TimeUtil::TimestampToMicroseconds(t);
  };
  const int64_t before_us = std::chrono::duration_cast<std::chrono::microseconds>(before.time_since_epoch()).count();
  const int64_t after_us = std::chrono::duration_cast<std::chrono::microseconds>(after.time_since_epoch()).count();
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].type(), types[i]) << EventLine(events[i]);
    EXPECT_EQ(events[i].sequence(), steps[i].sequence);
    EXPECT_EQ(events[i].agent_time().seconds(), steps[i].agent_seconds) << "the agent's time is kept as sent";
    EXPECT_GE(micros(events[i].time()), before_us) << "stamped by the collector on receipt";
    EXPECT_LE(micros(events[i].time()), after_us);
    if (i > 0) {
      EXPECT_GT(events[i].id(), events[i - 1].id());
      EXPECT_GE(micros(events[i].time()), micros(events[i - 1].time()));
    }
  }
  v1::Summary summary;
  ASSERT_TRUE(collector_->fleet()->GetSummary(Ctx().get(), v1::GetSummaryRequest(), &summary).ok());
  EXPECT_EQ(summary.total_hosts(), 1);
  EXPECT_EQ(VerdictCount(summary, "INSTALLED"), 1);
  EXPECT_EQ(Counts(summary.by_product())["kesl"], 1);
}

// The collector's data folder on a small tmpfs that the test fills up while agents keep changing their hosts. The
// collector must say so clearly, refuse the writes (agents are not acknowledged and keep their spool), keep
// answering reads, take writes again once space returns, and leave a database that passes integrity_check.
TEST_F(ChaosTest, CollectorDiskFull) {
  const std::string data = tmp_.Sub("data");
  test::MakeDirs(data);
  if (::mount("tmpfs", data.c_str(), "tmpfs", 0, "size=16m,mode=0700") != 0) {
    GTEST_SKIP() << "cannot mount a 16 MiB tmpfs on " << data << " (" << std::strerror(errno)
                 << "): this test needs root (CI runs it as root)";
  }
  mounted_ = data;
  constexpr int kHosts = 2;
  ASSERT_NO_FATAL_FAILURE(MakeHosts(kHosts));
  ASSERT_NO_FATAL_FAILURE(StartCollector());
  for (auto& h : hosts_) h.StartAgentOn(collector_->agent_address());
  ASSERT_NO_FATAL_FAILURE(WaitForFirstReports());

  // Fill every byte that is left.
  const std::string filler = data + "/filler";
  {
    const int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    const std::string chunk(64 << 10, 'x');
    while (::write(fd, chunk.data(), chunk.size()) > 0) {
    }
    for (size_t n = 4096; n > 0; n /= 2) {
      while (::write(fd, chunk.data(), n) > 0) {
      }
    }
    ::close(fd);
  }
  // Changes go on; each waits for the agent's spool, then for the collector to have refused or stored it.
  int refused_at = -1;
  for (int i = 0; i < 10 && refused_at < 0; ++i) {
    ASSERT_TRUE(Toggle(hosts_[static_cast<size_t>(i) % kHosts], KeslDeb()));
    if (test::WaitFor([&] { return collector_->Log().find("event=storage_refusing") != std::string::npos; }, 3s)) {
      refused_at = i;
    }
  }
  ASSERT_GE(refused_at, 0) << "the collector never reported its disk full\n" << Tail(collector_->Log());
  EXPECT_NE(collector_->Log().find("database or disk is full"), std::string::npos) << Tail(collector_->Log());
  // Reads still answered, from what was stored before.
  v1::Summary summary;
  const grpc::Status read = collector_->fleet()->GetSummary(Ctx().get(), v1::GetSummaryRequest(), &summary);
  EXPECT_TRUE(read.ok()) << Describe(read);
  EXPECT_EQ(summary.total_hosts(), kHosts);
  v1::ListHostsResponse hosts;
  EXPECT_TRUE(ListAllHosts(collector_->fleet(), v1::ListHostsRequest(), &hosts).ok());
  EXPECT_EQ(hosts.hosts_size(), kHosts);
  // Some agent holds a report the collector could not acknowledge.
  EXPECT_TRUE(std::any_of(hosts_.begin(), hosts_.end(), [](const ChaosHost& h) {
    return StateValue(h.state_dir, "acked") < StateValue(h.state_dir, "sequence");
  }));
  EXPECT_TRUE(collector_->Running()) << "a full disk must not stop the collector";

  // Space returns: everything arrives, once.
  ASSERT_EQ(::unlink(filler.c_str()), 0);
  Figures figures;
  ExpectConverged(&figures);
  EXPECT_NE(collector_->Log().find("event=storage_writable"), std::string::npos) << Tail(collector_->Log());
  // Agents were told UNAVAILABLE (code 14) with the reason, and came back by themselves.
  EXPECT_TRUE(std::any_of(hosts_.begin(), hosts_.end(), [](const ChaosHost& h) {
    const std::string log = ReadOrEmpty(h.log);
    return log.find("code=14 message=\"collector storage refuses writes (database or disk is full") !=
           std::string::npos;
  }));
  EXPECT_EQ(collector_->Stop(SIGTERM), 0);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2((data + "/ksweep.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  std::string integrity;
  sqlite3_exec(
      db, "PRAGMA integrity_check",
      [](void* out, int, char** values, char**) {
        *static_cast<std::string*>(out) += values[0] != nullptr ? values[0] : "(null)";
        return 0;
      },
      &integrity, nullptr);
  sqlite3_close(db);
  EXPECT_EQ(integrity, "ok");
  figures.extra = "hosts=" + std::to_string(kHosts) + " refused_after_changes=" + std::to_string(refused_at + 1) +
                  " seed=" + std::to_string(seed_);
  Publish(figures, "collector_disk_full");
}

}  // namespace
}  // namespace ksweep::chaos_test
