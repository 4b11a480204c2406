// `ksweep events --follow` behind a slow consumer, with real processes on loopback: a collector with a small
// --watch-queue-limit, the real CLI whose stdout is a pipe this test leaves unread for a while, and an agent
// connection (the AgentService, as ksweep-agent speaks it) that makes hundreds of events. The collector cuts the
// lagging follower off; the CLI must resume by itself, with no event missed or printed twice.

// GCC 12 at -O2 sees "potential null dereferences" in gRPC's inlined sync client call ops that the gRPC API
// contract rules out (as in tests/integration/collector_test.cc).
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <poll.h>

#include <algorithm>

#include <grpcpp/grpcpp.h>

#include "ksweep/v1/agent.grpc.pb.h"
#include "tests/e2e/cli_fleet.h"
#include "tests/integration/collector_process.h"

namespace ksweep::cli_test {
namespace {

// The collector counts an event as queued for a watcher until gRPC takes it for the stream, and gRPC takes far more
// for a stream nobody reads than a test should make (over 40,000 events in 40-event commits with a limit of 100, in
// our runs) before it stops taking more. So what trips the limit here is a commit bigger than it landing on a
// follower that is behind, as when a large report comes in: reports of kFindingsPerReport events, a limit below.
constexpr int kQueueLimit = 20;
constexpr int kFindingsPerReport = 40;
constexpr int kMaxReports = 50;  // a bound on the wait for the first cut-off, which should come with the first report
// After it, many pipes' worth of events while the follower stays blocked.
constexpr int kReportsAfterCutOff = 20;
constexpr const char* kCutOffLogLine = "event watcher cut off for lagging";

v1::HostFacts Facts() {
  v1::HostFacts h;
  h.set_host_id("f011000000000000000000000000000a");
  h.set_hostname("busy-1");
  h.mutable_os()->set_id("debian");
  h.mutable_os()->set_version_id("12");
  h.set_root("/");
  return h;
}

// `findings` products INSTALLED, numbered from 0: alternating N and 0 makes N DETECTED/REAPPEARED, then N REMOVED.
v1::AgentMessage Report(uint64_t seq, int findings) {
  v1::AgentMessage m;
  auto* r = m.mutable_report();
  r->set_sequence(seq);
  *r->mutable_report()->mutable_host() = Facts();
  for (int i = 0; i < findings; ++i) {
    auto* f = r->mutable_report()->add_findings();
    f->set_product_id("prod" + std::to_string(i));
    f->set_product_name("Kaspersky test product " + std::to_string(i));
    f->set_state(v1::PRODUCT_STATE_INSTALLED);
    f->set_version("12.1.0.1297");
    auto* e = f->add_evidence();
    e->set_kind(v1::EVIDENCE_KIND_DPKG_PACKAGE);
    e->set_detail("dpkg package prod" + std::to_string(i) + " 12.1.0.1297 status 'install ok installed'");
    e->set_strength(v1::STRENGTH_STRONG);
  }
  r->mutable_report()->set_verdict(findings > 0 ? v1::VERDICT_INSTALLED : v1::VERDICT_CLEAN);
  r->mutable_report()->set_agent_version("0.1.0");
  return m;
}

// One agent stream, as ksweep-agent speaks it: Hello, Welcome, then reports, each acknowledged once stored (so
// its events are committed and published when Send returns).
class AgentStream {
 public:
  explicit AgentStream(const std::string& address)
      : stub_(v1::AgentService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))) {
    ctx_.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
    stream_ = stub_->Connect(&ctx_);
  }
  ::testing::AssertionResult Greet() {
    v1::AgentMessage hello;
    *hello.mutable_hello()->mutable_host() = Facts();
    hello.mutable_hello()->set_agent_version("0.1.0");
    hello.mutable_hello()->set_rules_version("test");
    v1::CollectorMessage m;
    if (!stream_->Write(hello) || !stream_->Read(&m) || !m.has_welcome()) {
      return ::testing::AssertionFailure() << "no Welcome: " << stream_->Finish().error_message();
    }
    return ::testing::AssertionSuccess();
  }
  ::testing::AssertionResult Send(int findings) {
    const uint64_t seq = ++sequence_;
    v1::CollectorMessage m;
    if (!stream_->Write(Report(seq, findings))) return ::testing::AssertionFailure() << "report " << seq << " not sent";
    // Other messages (a rules push) may come first; the ack is what says the report is stored.
    while (stream_->Read(&m)) {
      if (m.has_ack()) return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << "report " << seq << ": stream ended: " << stream_->Finish().error_message();
  }

 private:
  std::unique_ptr<v1::AgentService::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::CollectorMessage>> stream_;
  uint64_t sequence_ = 0;
};

// The read end of a pipe the follower writes its stdout into: left unread, it fills and blocks the follower.
class Pipe {
 public:
  Pipe() {
    if (::pipe2(fds_, O_CLOEXEC) != 0) ADD_FAILURE() << "pipe2 failed";
    // The smallest pipe the kernel allows, so a few lines block the writer (the default holds 64 KiB).
    ::fcntl(fds_[0], F_SETPIPE_SZ, 4096);
  }
  ~Pipe() {
    for (int fd : fds_) {
      if (fd >= 0) ::close(fd);
    }
  }
  // What the child opens as its stdout: the same pipe, reopened through procfs before exec.
  fs::path WriteEndPath() const { return "/proc/self/fd/" + std::to_string(fds_[1]); }
  void CloseWriteEnd() {
    ::close(fds_[1]);
    fds_[1] = -1;
  }
  // Appends what is there to `*text`, waiting up to `wait` for something to come; false at end of file.
  bool ReadSome(std::string* text, std::chrono::milliseconds wait) {
    pollfd p{fds_[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return true;
    char buf[65536];
    const ssize_t n = ::read(fds_[0], buf, sizeof buf);
    if (n <= 0) return false;
    text->append(buf, static_cast<size_t>(n));
    return true;
  }

 private:
  int fds_[2] = {-1, -1};
};

// Event ids of the complete JSON lines (one v1::Event each) in `text`.
std::vector<int64_t> EventIds(const std::string& text) {
  std::vector<int64_t> ids;
  for (const auto& line : Lines(text.substr(0, text.rfind('\n') + 1))) {
    if (!line.empty()) ids.push_back(ParseJson<v1::Event>(line).id());
  }
  return ids;
}

// The id of the last complete line, or 0.
int64_t LastEventId(const std::string& text) {
  const size_t end = text.rfind('\n');
  if (end == std::string::npos) return 0;
  const size_t begin = text.rfind('\n', end - 1);
  return ParseJson<v1::Event>(text.substr(begin == std::string::npos ? 0 : begin + 1, end)).id();
}

// Where `got` first differs from `want` (both in id order), for a failure message short enough to read.
std::string FirstDifference(const std::vector<int64_t>& got, const std::vector<int64_t>& want) {
  for (size_t i = 0; i < std::max(got.size(), want.size()); ++i) {
    if (i >= got.size() || i >= want.size() || got[i] != want[i]) {
      return "printed " + std::to_string(got.size()) + " events, stored " + std::to_string(want.size()) +
             "; first difference at line " + std::to_string(i + 1) + ": printed " +
             (i < got.size() ? std::to_string(got[i]) : "nothing") + ", stored " +
             (i < want.size() ? std::to_string(want[i]) : "nothing") +
             (i > 0 ? " (after " + std::to_string(got[i - 1]) + ")" : "");
    }
  }
  return "no difference";
}

TEST(CliFollowTest, ResumesWhenCutOffForLaggingWithNoGapAndNoDuplicate) {
  TempDir tmp;
  ksweep::testing::CollectorProcess collector(
      (tmp.path() / "data").string(),
      {"--watch-queue-limit", std::to_string(kQueueLimit), "--agent-rate", "100000", "--agent-burst", "100000"});
  std::string error;
  ASSERT_TRUE(collector.Start(&error)) << error;
  AgentStream agent(collector.agent_address());
  ASSERT_TRUE(agent.Greet());
  // Stored before the follower starts: it lists this one first (--since), then follows after its id.
  ASSERT_TRUE(agent.Send(1));

  Pipe pipe;
  Child follow({CliBinary(), "--insecure", "--server", collector.api_address(), "events", "--follow", "-o", "json",
                "--since", "2000-01-01"},
               pipe.WriteEndPath(), tmp.path() / "follow.err");
  pipe.CloseWriteEnd();
  // Read until the follower prints an event of its WatchEvents stream: from then on its subscription is live (the
  // collector subscribes it before replaying), and events that come in queue up for it.
  std::string out;
  ASSERT_TRUE(agent.Send(0));
  ASSERT_TRUE(WaitFor([&] {
    pipe.ReadSome(&out, 50ms);
    return EventIds(out).size() >= 2;
  })) << "follower printed:\n" << out << "\nstderr:\n" << follow.err();

  // Events while the follower is blocked writing to the pipe nobody reads now, until the collector cuts it off.
  int reports = 0;
  bool cut_off = false;
  while (!cut_off && reports < kMaxReports) {
    ASSERT_TRUE(agent.Send(reports % 2 == 0 ? kFindingsPerReport : 0)) << collector.Log();
    ++reports;
    cut_off = collector.Log().find(kCutOffLogLine) != std::string::npos;
  }
  ASSERT_TRUE(cut_off) << "the collector never cut the follower off after " << reports
                       << " reports; follower stderr:\n" << follow.err();
  // More while it stays blocked: cut off again and again, as each resumed stream meets a commit.
  for (int i = 0; i < kReportsAfterCutOff; ++i, ++reports) {
    ASSERT_TRUE(agent.Send(reports % 2 == 0 ? kFindingsPerReport : 0)) << collector.Log();
  }
  ASSERT_TRUE(follow.running()) << follow.err();

  // Then read everything: the follower prints what it had, resumes, and gets the rest from the collector's replay.
  Outcome all = RunCommand({CliBinary(), "--insecure", "--server", collector.api_address(), "events", "--all", "-o",
                            "json"},
                           tmp.path());
  ASSERT_EQ(all.code, 0) << Describe(all);
  std::vector<int64_t> stored;
  const auto listed = ParseJson<v1::ListEventsResponse>(all.out);
  for (const auto& e : listed.events()) stored.push_back(e.id());
  ASSERT_GT(stored.size(), static_cast<size_t>(kQueueLimit));
  bool eof = false;
  ASSERT_TRUE(WaitFor([&] {
    eof = !pipe.ReadSome(&out, 50ms);
    return eof || LastEventId(out) >= stored.back();
  })) << "the follower printed up to event " << LastEventId(out) << " of " << stored.back() << "; stderr:\n"
      << follow.err();
  ASSERT_FALSE(eof) << "the follower closed its stdout; stderr:\n" << follow.err();

  // Every stored event exactly once, in id order; the follower still running, having said why it resumed.
  const auto printed = EventIds(out);
  EXPECT_TRUE(printed == stored) << FirstDifference(printed, stored);
  EXPECT_TRUE(follow.running()) << follow.err();
  const std::string err = follow.err();
  EXPECT_NE(err.find("ksweep: the collector cut this follower off for falling behind ("), std::string::npos) << err;
  EXPECT_NE(err.find("watcher fell more than " + std::to_string(kQueueLimit) + " events behind"), std::string::npos)
      << err;
  EXPECT_NE(err.find("); resuming after event "), std::string::npos) << err;
  EXPECT_EQ(err.find("lost the event stream"), std::string::npos) << "a lagging follower is not a lost one: " << err;

  follow.Signal(SIGTERM);
  EXPECT_EQ(follow.Wait(kDeadline), 0) << follow.err();
}

}  // namespace
}  // namespace ksweep::cli_test
