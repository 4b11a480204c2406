// The collector as a real process on loopback, spoken to by real gRPC clients: the agent stream rules, the limits,
// the fleet API's errors, WatchEvents, RequestScan, health and reflection, restart and shutdown.

// GCC 12 at -O2 sees "potential null dereferences" in gRPC's inlined sync client call ops and in std::streambuf
// that the gRPC API contract rules out; our code has no such path.
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <gtest/gtest.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "ksweep/v1/agent.grpc.pb.h"
#include "ksweep/v1/fleet.grpc.pb.h"
#include "tests/integration/collector_process.h"

namespace ksweep {
namespace {

namespace fs = std::filesystem;
using testing::CollectorProcess;
using Stream = grpc::ClientReaderWriter<v1::AgentMessage, v1::CollectorMessage>;

std::chrono::system_clock::time_point Deadline(int seconds = 30) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

v1::HostFacts Facts(const std::string& id, const std::string& hostname) {
  v1::HostFacts h;
  h.set_host_id(id);
  h.set_hostname(hostname);
  h.mutable_os()->set_id("debian");
  h.mutable_os()->set_version_id("12");
  h.set_root("/");
  return h;
}

v1::Finding Finding(const std::string& product, v1::ProductState state, int evidence = 1) {
  v1::Finding f;
  f.set_product_id(product);
  f.set_product_name("Kaspersky " + product);
  f.set_state(state);
  f.set_version("12.1.0.1297");
  for (int i = 0; i < evidence; ++i) {
    auto* e = f.add_evidence();
    e->set_kind(v1::EVIDENCE_KIND_DPKG_PACKAGE);
    e->set_detail("dpkg package " + product + " 12.1.0.1297 status 'install ok installed' #" + std::to_string(i));
    e->set_strength(v1::STRENGTH_STRONG);
  }
  return f;
}

v1::AgentMessage Hello(const v1::HostFacts& facts) {
  v1::AgentMessage m;
  *m.mutable_hello()->mutable_host() = facts;
  m.mutable_hello()->set_agent_version("0.1.0");
  m.mutable_hello()->set_rules_version("test");
  return m;
}

v1::AgentMessage ReportMsg(const v1::HostFacts& facts, uint64_t seq, std::vector<v1::Finding> findings) {
  v1::AgentMessage m;
  auto* r = m.mutable_report();
  r->set_sequence(seq);
  *r->mutable_report()->mutable_host() = facts;
  v1::Verdict verdict = v1::VERDICT_CLEAN;
  for (auto& f : findings) {
    verdict = std::max(verdict, static_cast<v1::Verdict>(static_cast<int>(f.state()) + 1));
    *r->mutable_report()->add_findings() = std::move(f);
  }
  r->mutable_report()->set_verdict(verdict);
  r->mutable_report()->set_agent_version("0.1.0");
  return m;
}

// One agent connection: a sync bidi stream with a deadline so no test can hang.
struct Agent {
  Agent(const std::shared_ptr<grpc::Channel>& channel, int deadline_seconds = 60)
      : stub(v1::AgentService::NewStub(channel)) {
    ctx.set_deadline(Deadline(deadline_seconds));
    stream = stub->Connect(&ctx);
  }
  // Hello, then the Welcome.
  v1::Welcome Greet(const v1::HostFacts& facts) {
    EXPECT_TRUE(stream->Write(Hello(facts)));
    v1::CollectorMessage m;
    EXPECT_TRUE(stream->Read(&m));
    EXPECT_TRUE(m.has_welcome()) << m.DebugString();
    return m.welcome();
  }
  v1::Ack Send(const v1::AgentMessage& msg) {
    EXPECT_TRUE(stream->Write(msg));
    v1::CollectorMessage m;
    EXPECT_TRUE(stream->Read(&m));
    EXPECT_TRUE(m.has_ack()) << m.DebugString();
    return m.ack();
  }
  // Reads until the collector ends the stream; returns its status.
  grpc::Status Closed() {
    v1::CollectorMessage m;
    while (stream->Read(&m)) {
    }
    return stream->Finish();
  }

  std::unique_ptr<v1::AgentService::Stub> stub;
  grpc::ClientContext ctx;
  std::unique_ptr<Stream> stream;
};

class CollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ksweep-collector-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (collector_ && HasFailure()) std::cerr << "collector log:\n" << collector_->Log();
    collector_.reset();
    fs::remove_all(dir_);
    fs::remove(dir_.string() + "/data.log");
  }

  void StartCollector(std::vector<std::string> extra = {}) {
    collector_ = std::make_unique<CollectorProcess>((dir_ / "data").string(), std::move(extra));
    std::string error;
    ASSERT_TRUE(collector_->Start(&error)) << error;
    agent_channel_ = grpc::CreateChannel(collector_->agent_address(), grpc::InsecureChannelCredentials());
    api_channel_ = grpc::CreateChannel(collector_->api_address(), grpc::InsecureChannelCredentials());
    fleet_ = v1::FleetService::NewStub(api_channel_);
  }

  grpc::Status GetHost(const std::string& host, v1::Host* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    v1::GetHostRequest req;
    req.set_host(host);
    return fleet_->GetHost(&ctx, req, out);
  }
  v1::ListEventsResponse Events(const std::string& host = "") {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    v1::ListEventsRequest req;
    req.set_host(host);
    v1::ListEventsResponse out;
    EXPECT_TRUE(fleet_->ListEvents(&ctx, req, &out).ok());
    return out;
  }
  grpc::Status ListHosts(const v1::ListHostsRequest& req, v1::ListHostsResponse* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    return fleet_->ListHosts(&ctx, req, out);
  }

  fs::path dir_;
  std::unique_ptr<CollectorProcess> collector_;
  std::shared_ptr<grpc::Channel> agent_channel_;
  std::shared_ptr<grpc::Channel> api_channel_;
  std::unique_ptr<v1::FleetService::Stub> fleet_;
};

TEST_F(CollectorTest, HelloMustComeFirst) {
  StartCollector();
  Agent agent(agent_channel_);
  ASSERT_TRUE(agent.stream->Write(ReportMsg(Facts("h1", "web-1"), 1, {})));
  auto status = agent.Closed();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("first message on a stream must be Hello, got Report"), std::string::npos)
      << status.error_message();
  v1::Host host;
  EXPECT_EQ(GetHost("h1", &host).error_code(), grpc::StatusCode::NOT_FOUND);

  Agent twice(agent_channel_);
  twice.Greet(Facts("h1", "web-1"));
  ASSERT_TRUE(twice.stream->Write(Hello(Facts("h1", "web-1"))));
  auto second = twice.Closed();
  EXPECT_EQ(second.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(second.error_message().find("Hello sent twice"), std::string::npos) << second.error_message();

  Agent no_id(agent_channel_);
  ASSERT_TRUE(no_id.stream->Write(Hello(Facts("", "web-1"))));
  EXPECT_EQ(no_id.Closed().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(CollectorTest, AckComesAfterCommitAndWelcomeCarriesLastSequence) {
  StartCollector({"--heartbeat-interval", "45"});
  const auto facts = Facts("h1", "web-1");
  {
    Agent agent(agent_channel_);
    auto welcome = agent.Greet(facts);
    EXPECT_EQ(welcome.last_stored_sequence(), 0u);
    EXPECT_EQ(welcome.heartbeat_interval_seconds(), 45u);
    auto ack = agent.Send(ReportMsg(facts, 1, {Finding("kesl", v1::PRODUCT_STATE_RUNNING)}));
    EXPECT_EQ(ack.sequence(), 1u);
    EXPECT_FALSE(ack.duplicate());
    // The ack means committed: the fleet API (another connection) sees it at once.
    v1::Host host;
    ASSERT_TRUE(GetHost("web-1", &host).ok());
    EXPECT_EQ(host.summary().verdict(), v1::VERDICT_RUNNING);
    EXPECT_EQ(host.summary().last_sequence(), 1u);
    EXPECT_TRUE(host.summary().connected());
    ASSERT_EQ(host.findings_size(), 1);
    EXPECT_EQ(host.findings(0).evidence(0).detail(), "dpkg package kesl 12.1.0.1297 status 'install ok installed' #0");
    agent.stream->WritesDone();
    EXPECT_TRUE(agent.Closed().ok());
  }
  Agent again(agent_channel_);
  EXPECT_EQ(again.Greet(facts).last_stored_sequence(), 1u);
}

TEST_F(CollectorTest, DuplicateSequenceIsAckedAsDuplicateWithoutEvents) {
  StartCollector();
  const auto facts = Facts("h1", "web-1");
  Agent agent(agent_channel_);
  agent.Greet(facts);
  EXPECT_FALSE(agent.Send(ReportMsg(facts, 1, {Finding("kesl", v1::PRODUCT_STATE_RUNNING)})).duplicate());
  const int events = Events().events_size();
  EXPECT_EQ(events, 1);
  auto dup = agent.Send(ReportMsg(facts, 1, {}));
  EXPECT_EQ(dup.sequence(), 1u);
  EXPECT_TRUE(dup.duplicate());
  EXPECT_EQ(Events().events_size(), events);
  v1::Host host;
  ASSERT_TRUE(GetHost("h1", &host).ok());
  EXPECT_EQ(host.summary().verdict(), v1::VERDICT_RUNNING);
}

TEST_F(CollectorTest, BackwardsSequenceIsRefusedAndOthersKeepGoing) {
  StartCollector();
  const auto facts = Facts("h1", "web-1");
  Agent other(agent_channel_);
  other.Greet(Facts("h2", "web-2"));
  Agent agent(agent_channel_);
  agent.Greet(facts);
  agent.Send(ReportMsg(facts, 5, {Finding("kesl", v1::PRODUCT_STATE_RUNNING)}));
  v1::Host before;
  ASSERT_TRUE(GetHost("h1", &before).ok());
  ASSERT_TRUE(agent.stream->Write(ReportMsg(facts, 3, {})));
  auto status = agent.Closed();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("report sequence 3 from host 'h1' is below the last stored sequence 5"),
            std::string::npos)
      << status.error_message();
  v1::Host after;
  ASSERT_TRUE(GetHost("h1", &after).ok());
  after.mutable_summary()->clear_connected();
  before.mutable_summary()->clear_connected();
  EXPECT_EQ(after.SerializeAsString(), before.SerializeAsString());
  // The other agent's stream is untouched.
  EXPECT_EQ(other.Send(ReportMsg(Facts("h2", "web-2"), 1, {})).sequence(), 1u);
}

TEST_F(CollectorTest, OversizedMessageIsResourceExhausted) {
  StartCollector({"--max-message-bytes", "65536"});
  const auto facts = Facts("h1", "web-1");
  Agent agent(agent_channel_);
  agent.Greet(facts);
  auto big = ReportMsg(facts, 1, {Finding("kesl", v1::PRODUCT_STATE_RUNNING)});
  big.mutable_report()->mutable_report()->add_warnings(std::string(100 * 1024, 'x'));
  agent.stream->Write(big);
  auto status = agent.Closed();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  v1::Host host;
  EXPECT_EQ(GetHost("h1", &host).error_code(), grpc::StatusCode::NOT_FOUND);
  // A report under the limit still goes through on a new stream.
  Agent again(agent_channel_);
  again.Greet(facts);
  EXPECT_EQ(again.Send(ReportMsg(facts, 1, {})).sequence(), 1u);
}

TEST_F(CollectorTest, TooManyFindingsOrEvidenceIsInvalidArgument) {
  StartCollector({"--max-findings", "5", "--max-evidence", "3"});
  const auto facts = Facts("h1", "web-1");
  {
    Agent agent(agent_channel_);
    agent.Greet(facts);
    std::vector<v1::Finding> six;
    for (int i = 0; i < 6; ++i) six.push_back(Finding("p" + std::to_string(i), v1::PRODUCT_STATE_INSTALLED));
    agent.stream->Write(ReportMsg(facts, 1, six));
    auto status = agent.Closed();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find("6 findings, more than the limit of 5"), std::string::npos)
        << status.error_message();
  }
  {
    Agent agent(agent_channel_);
    agent.Greet(facts);
    agent.stream->Write(ReportMsg(facts, 1, {Finding("kesl", v1::PRODUCT_STATE_INSTALLED, 4)}));
    auto status = agent.Closed();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find("findings[0] (kesl) has 4 evidence items, more than the limit of 3"),
              std::string::npos)
        << status.error_message();
  }
  {
    // Wrong values the type system lets through: a verdict an agent may not send.
    Agent agent(agent_channel_);
    agent.Greet(facts);
    auto stale = ReportMsg(facts, 1, {});
    stale.mutable_report()->mutable_report()->set_verdict(v1::VERDICT_STALE);
    agent.stream->Write(stale);
    auto status = agent.Closed();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find("verdict"), std::string::npos) << status.error_message();
  }
  v1::Host host;
  EXPECT_EQ(GetHost("h1", &host).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Events().events_size(), 0);
}

TEST_F(CollectorTest, FloodClosesOnlyThatStream) {
  StartCollector({"--agent-rate", "1", "--agent-burst", "5"});
  Agent calm(agent_channel_);
  calm.Greet(Facts("calm", "calm"));
  const auto facts = Facts("h1", "flood");
  Agent flood(agent_channel_);
  flood.Greet(facts);
  // Far more than the burst, as fast as the stream takes them.
  for (uint64_t seq = 1; seq <= 200; ++seq) {
    if (!flood.stream->Write(ReportMsg(facts, seq, {}))) break;
  }
  v1::CollectorMessage m;
  int acks = 0;
  while (flood.stream->Read(&m)) {
    if (m.has_ack()) ++acks;
  }
  auto status = flood.stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(status.error_message().find("messages per second"), std::string::npos) << status.error_message();
  EXPECT_LE(acks, 6);  // the burst (and at most one refilled token)
  v1::Host host;
  ASSERT_TRUE(GetHost("h1", &host).ok());
  EXPECT_EQ(host.summary().last_sequence(), static_cast<uint64_t>(acks));
  // The calm agent is unaffected.
  EXPECT_EQ(calm.Send(ReportMsg(Facts("calm", "calm"), 1, {})).sequence(), 1u);
}

TEST_F(CollectorTest, BadFilterAndForgedPageTokenAreInvalidArgument) {
  StartCollector();
  for (int i = 0; i < 3; ++i) {
    Agent agent(agent_channel_);
    const auto facts = Facts("h" + std::to_string(i), "web-" + std::to_string(i));
    agent.Greet(facts);
    agent.Send(ReportMsg(facts, 1, {Finding("kesl", v1::PRODUCT_STATE_INSTALLED)}));
  }
  struct Case {
    std::string expr;
    std::string expect;
  } cases[] = {
      {"verdict=blue", "term 'verdict=blue' at offset 0: verdict 'blue' is not RUNNING"},
      {"os=debian colour=red", "term 'colour=red' at offset 10: unknown key 'colour'"},
      {"hostname", "term 'hostname' at offset 0: expected key=value"},
      {"seen_after=yesterday", "'yesterday' is not an RFC 3339 time"},
      {"label=", "missing value"},
  };
  for (const auto& c : cases) {
    v1::ListHostsRequest req;
    req.mutable_filter()->set_expr(c.expr);
    v1::ListHostsResponse resp;
    auto status = ListHosts(req, &resp);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.expr;
    EXPECT_NE(status.error_message().find(c.expect), std::string::npos) << status.error_message();
  }

  v1::ListHostsRequest req;
  req.mutable_filter()->set_expr("verdict=installed,running os=debian");
  req.set_page_size(2);
  v1::ListHostsResponse first;
  ASSERT_TRUE(ListHosts(req, &first).ok());
  EXPECT_EQ(first.total_size(), 3);
  ASSERT_EQ(first.hosts_size(), 2);
  ASSERT_FALSE(first.next_page_token().empty());
  req.set_page_token(first.next_page_token());
  v1::ListHostsResponse second;
  ASSERT_TRUE(ListHosts(req, &second).ok());
  ASSERT_EQ(second.hosts_size(), 1);
  EXPECT_EQ(second.hosts(0).hostname(), "web-2");
  EXPECT_TRUE(second.next_page_token().empty());

  v1::ListHostsRequest other = req;  // same token, another query
  other.mutable_filter()->set_expr("verdict=installed");
  v1::ListHostsResponse resp;
  auto foreign = ListHosts(other, &resp);
  EXPECT_EQ(foreign.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(foreign.error_message().find("page_token"), std::string::npos) << foreign.error_message();
  req.set_page_token("AAAAforged");
  EXPECT_EQ(ListHosts(req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  req.set_page_token("");
  req.set_page_size(5000);
  EXPECT_EQ(ListHosts(req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(CollectorTest, WatchEventsSeesRemovedAfterAReportWithoutTheProduct) {
  StartCollector();
  const auto facts = Facts("h1", "web-1");
  grpc::ClientContext watch_ctx;
  watch_ctx.set_deadline(Deadline());
  v1::WatchEventsRequest wreq;
  auto watch = fleet_->WatchEvents(&watch_ctx, wreq);
  // The watch is registered when the call is: wait for its initial metadata before reporting.
  watch->WaitForInitialMetadata();

  Agent agent(agent_channel_);
  agent.Greet(facts);
  agent.Send(ReportMsg(facts, 1, {Finding("kesl", v1::PRODUCT_STATE_INSTALLED)}));
  agent.Send(ReportMsg(facts, 2, {}));

  v1::Event detected, removed;
  ASSERT_TRUE(watch->Read(&detected));
  EXPECT_EQ(detected.type(), v1::EVENT_TYPE_DETECTED);
  ASSERT_TRUE(watch->Read(&removed));
  EXPECT_EQ(removed.type(), v1::EVENT_TYPE_REMOVED);
  EXPECT_EQ(removed.product_id(), "kesl");
  EXPECT_EQ(removed.host_id(), "h1");
  EXPECT_EQ(removed.hostname(), "web-1");
  EXPECT_EQ(removed.old_state(), v1::PRODUCT_STATE_INSTALLED);
  EXPECT_EQ(removed.sequence(), 2u);
  EXPECT_GT(removed.id(), detected.id());
  watch_ctx.TryCancel();
  watch->Finish();

  // Replay: a watcher resuming after the DETECTED event gets the REMOVED one from the store, then live ones.
  grpc::ClientContext replay_ctx;
  replay_ctx.set_deadline(Deadline());
  wreq.set_after_id(detected.id());
  wreq.set_host("web-1");
  auto replay = fleet_->WatchEvents(&replay_ctx, wreq);
  v1::Event e;
  ASSERT_TRUE(replay->Read(&e));
  EXPECT_EQ(e.id(), removed.id());
  agent.Send(ReportMsg(facts, 3, {Finding("kesl", v1::PRODUCT_STATE_RUNNING)}));
  ASSERT_TRUE(replay->Read(&e));
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_REAPPEARED);
  replay_ctx.TryCancel();
  replay->Finish();
}

TEST_F(CollectorTest, RequestScanReachesConnectedAgents) {
  StartCollector();
  Agent agent(agent_channel_);
  const auto facts = Facts("h1", "web-1");
  agent.Greet(facts);
  agent.Send(ReportMsg(facts, 1, {Finding("kesl", v1::PRODUCT_STATE_RUNNING)}));
  {
    Agent gone(agent_channel_);
    gone.Greet(Facts("h2", "web-2"));
    gone.Send(ReportMsg(Facts("h2", "web-2"), 1, {Finding("kesl", v1::PRODUCT_STATE_RUNNING)}));
    gone.stream->WritesDone();
    gone.Closed();
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  v1::RequestScanRequest req;
  req.mutable_filter()->set_expr("verdict=running");
  req.set_reason("test");
  v1::RequestScanResponse resp;
  ASSERT_TRUE(fleet_->RequestScan(&ctx, req, &resp).ok());
  EXPECT_EQ(std::vector<std::string>(resp.requested().begin(), resp.requested().end()),
            std::vector<std::string>{"h1"});
  EXPECT_EQ(std::vector<std::string>(resp.not_connected().begin(), resp.not_connected().end()),
            std::vector<std::string>{"h2"});
  v1::CollectorMessage m;
  ASSERT_TRUE(agent.stream->Read(&m));
  ASSERT_TRUE(m.has_scan_now()) << m.DebugString();
  EXPECT_EQ(m.scan_now().reason(), "test");

  grpc::ClientContext missing_ctx;
  v1::RequestScanRequest missing;
  missing.set_host("nope");
  EXPECT_EQ(fleet_->RequestScan(&missing_ctx, missing, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(CollectorTest, HeartbeatUpdatesLastSeen) {
  StartCollector();
  Agent agent(agent_channel_);
  const auto facts = Facts("h1", "web-1");
  agent.Greet(facts);
  agent.Send(ReportMsg(facts, 1, {}));
  v1::Host before;
  ASSERT_TRUE(GetHost("h1", &before).ok());
  v1::AgentMessage hb;
  hb.mutable_heartbeat()->set_last_sequence(1);
  ASSERT_TRUE(agent.stream->Write(hb));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    v1::Host now;
    ASSERT_TRUE(GetHost("h1", &now).ok());
    if (now.summary().last_seen().seconds() * 1'000'000'000LL + now.summary().last_seen().nanos() >
        before.summary().last_seen().seconds() * 1'000'000'000LL + before.summary().last_seen().nanos()) {
      break;
    }
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "heartbeat never moved last_seen";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling the fleet API
  }
}

TEST_F(CollectorTest, IdleStreamIsClosed) {
  StartCollector({"--idle-timeout", "1s"});
  Agent agent(agent_channel_);
  agent.Greet(Facts("h1", "web-1"));
  auto status = agent.Closed();  // nothing more sent: the collector ends it
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_NE(status.error_message().find("idle timeout"), std::string::npos) << status.error_message();
}

// Health (grpc.health.v1) and reflection, spoken as raw bytes: no generated stubs for them are installed.
TEST_F(CollectorTest, HealthAndReflectionAreOn) {
  StartCollector();
  grpc::GenericStub stub(api_channel_);
  grpc::CompletionQueue cq;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    grpc::Slice empty("", 0);
    grpc::ByteBuffer request(&empty, 1);  // HealthCheckRequest{service: ""}
    auto call = stub.PrepareUnaryCall(&ctx, "/grpc.health.v1.Health/Check", request, &cq);
    call->StartCall();
    grpc::ByteBuffer response;
    grpc::Status status;
    call->Finish(&response, &status, reinterpret_cast<void*>(1));
    void* tag = nullptr;
    bool ok = false;
    ASSERT_TRUE(cq.Next(&tag, &ok));
    ASSERT_TRUE(status.ok()) << status.error_message();
    std::vector<grpc::Slice> slices;
    ASSERT_TRUE(response.Dump(&slices).ok());
    std::string bytes;
    for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    EXPECT_EQ(bytes, std::string("\x08\x01", 2));  // status: SERVING
  }
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    auto call = stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
    void* tag = nullptr;
    bool ok = false;
    call->StartCall(reinterpret_cast<void*>(1));
    ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
    const std::string list_services("\x3a\x00", 2);  // ServerReflectionRequest{list_services: ""}
    grpc::Slice slice(list_services.data(), list_services.size());
    grpc::ByteBuffer request(&slice, 1);
    call->Write(request, reinterpret_cast<void*>(2));
    ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
    grpc::ByteBuffer response;
    call->Read(&response, reinterpret_cast<void*>(3));
    ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
    std::vector<grpc::Slice> slices;
    ASSERT_TRUE(response.Dump(&slices).ok());
    std::string bytes;
    for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    EXPECT_NE(bytes.find("ksweep.v1.FleetService"), std::string::npos);
    ctx.TryCancel();
    grpc::Status status;
    call->Finish(&status, reinterpret_cast<void*>(4));
    cq.Next(&tag, &ok);
  }
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
}

TEST_F(CollectorTest, RestartKeepsDataAndShutdownIsGraceful) {
  StartCollector();
  const auto facts = Facts("h1", "web-1");
  Agent agent(agent_channel_, 120);
  agent.Greet(facts);
  agent.Send(ReportMsg(facts, 7, {Finding("kesl", v1::PRODUCT_STATE_RUNNING)}));
  // SIGTERM with the stream open: it is ended cleanly and the process exits 0.
  EXPECT_EQ(collector_->Stop(), 0);
  auto status = agent.Closed();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_FALSE(fs::exists(dir_ / "data" / "collector.ports"));

  StartCollector();
  v1::Host host;
  ASSERT_TRUE(GetHost("web-1", &host).ok());
  EXPECT_EQ(host.summary().last_sequence(), 7u);
  EXPECT_EQ(host.summary().verdict(), v1::VERDICT_RUNNING);
  EXPECT_FALSE(host.summary().connected());
  Agent back(agent_channel_);
  EXPECT_EQ(back.Greet(facts).last_stored_sequence(), 7u);
  EXPECT_EQ(Events().events_size(), 1);
}

TEST_F(CollectorTest, BadFlagsAndUnusableDataDirExitTwo) {
  std::string err;
  EXPECT_EQ(testing::RunCollector({"serve"}, &err), 2);
  EXPECT_NE(err.find("--data DIR is required"), std::string::npos) << err;
  EXPECT_EQ(testing::RunCollector({"serve", "--data", dir_.string(), "--no-such-flag"}, &err), 2);
  EXPECT_NE(err.find("no-such-flag"), std::string::npos) << err;
  EXPECT_EQ(testing::RunCollector({"serve", "--data", dir_.string(), "--stale-after", "soon"}, &err), 2);
  EXPECT_NE(err.find("--stale-after 'soon'"), std::string::npos) << err;
  EXPECT_EQ(testing::RunCollector({"frobnicate"}, &err), 2);

  const auto file = dir_ / "a-file";
  std::ofstream(file) << "x";
  EXPECT_EQ(testing::RunCollector({"serve", "--data", file.string(), "--agent-listen", "127.0.0.1:0",
                                   "--api-listen", "127.0.0.1:0"},
                                  &err),
            2);
  EXPECT_NE(err.find("data dir '" + file.string() + "'"), std::string::npos) << err;

  // A config file with the same keys; flags win over it.
  const auto config = dir_ / "collector.conf";
  std::ofstream(config) << "stale-after = never\n";
  EXPECT_EQ(testing::RunCollector({"serve", "--data", dir_.string(), "--config", config.string()}, &err), 2);
  EXPECT_NE(err.find("--stale-after 'never'"), std::string::npos) << err;

  // A second collector on the same data dir is refused while the first runs.
  StartCollector();
  EXPECT_EQ(testing::RunCollector({"serve", "--data", (dir_ / "data").string(), "--agent-listen", "127.0.0.1:0",
                                   "--api-listen", "127.0.0.1:0"},
                                  &err),
            2);
  EXPECT_NE(err.find("in use by another collector"), std::string::npos) << err;
}

}  // namespace
}  // namespace ksweep
