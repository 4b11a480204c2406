// The real `ksweep-agent run` against the real `ksweep-collector serve`: acks after commit reach the agent's state
// folder, a restart with nothing new sends nothing, a lost state folder never collides with the collector's numbers
// (the collector refuses sequences going backwards), and RequestScan on the fleet API reaches the agent as ScanNow.
#include <grpcpp/grpcpp.h>

#include "tests/integration/daemon_harness.h"

#include "ksweep/v1/fleet.grpc.pb.h"
#include "tests/e2e/host_lookup.h"
#include "tests/integration/collector_process.h"

namespace ksweep::daemon_test {
namespace {

using test::ReadFile;
using test::TempDir;
using test::WriteFile;

class DaemonCollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MakeRoot(root(), "alpha", KeslInstalled());
    fs::create_directories(base() / "data");
    collector_ = std::make_unique<testing::CollectorProcess>((base() / "data").string(),
                                                             std::vector<std::string>{"--insecure"});
    std::string error;
    ASSERT_TRUE(collector_->Start(&error)) << error;
    auto channel = grpc::CreateChannel(collector_->api_address(), grpc::InsecureChannelCredentials());
    fleet_ = v1::FleetService::NewStub(channel);
  }

  fs::path base() const { return dir_.path(); }
  fs::path root() const { return base() / "root"; }
  fs::path state() const { return base() / "state"; }

  std::unique_ptr<AgentProcess> StartAgent(const std::string& log_name) {
    auto agent = std::make_unique<AgentProcess>(LoopbackRunArgs(collector_->agent_address(), state(), root()),
                                                base() / log_name);
    agent->Start();
    return agent;
  }

  // The collector's view of host `name`, or nullopt when it does not know it (yet).
  std::optional<v1::Host> GetHost(const std::string& name) { return test::LookUpHost(*fleet_, name); }

  bool WaitForHost(const std::string& name, const std::function<bool(const v1::HostSummary&)>& done) {
    return WaitUntil([&] {
      const auto host = GetHost(name);
      return host && done(host->summary());
    });
  }

  TempDir dir_;
  std::unique_ptr<testing::CollectorProcess> collector_;
  std::unique_ptr<v1::FleetService::Stub> fleet_;
};

TEST_F(DaemonCollectorTest, AckedAfterCommitAndRestartSendsNothingNew) {
  auto first = StartAgent("first.log");
  ASSERT_TRUE(WaitForHost("alpha", [](const v1::HostSummary& h) {
    return h.connected() && h.last_sequence() == 1 && h.verdict() == v1::VERDICT_INSTALLED;
  })) << first->Log() << collector_->Log();
  ASSERT_TRUE(WaitUntil([&] { return ReadFile(state() / "state").find("acked 1\n") != std::string::npos; }))
      << first->Log();
  EXPECT_EQ(first->Stop(), 0);
  ASSERT_TRUE(WaitForHost("alpha", [](const v1::HostSummary& h) { return !h.connected(); }));

  // Same host, nothing changed: the Welcome says 1 is stored, the scan finds nothing new, so nothing is sent.
  auto second = StartAgent("second.log");
  ASSERT_TRUE(second->WaitForLog("event=welcomed last_stored_sequence=1")) << second->Log();
  ASSERT_TRUE(second->WaitForLog("event=scan_done reason=start")) << second->Log();
  EXPECT_NE(second->Log().find("changed=false"), std::string::npos) << second->Log();
  EXPECT_EQ(second->Log().find("event=report_sent"), std::string::npos) << second->Log();
  ASSERT_TRUE(WaitForHost("alpha", [](const v1::HostSummary& h) { return h.connected(); }));
  EXPECT_EQ(GetHost("alpha")->summary().last_sequence(), 1u);
  EXPECT_EQ(second->Stop(), 0);
}

TEST_F(DaemonCollectorTest, LostStateFolderContinuesAboveCollectorsNumber) {
  auto first = StartAgent("first.log");
  ASSERT_TRUE(WaitForHost("alpha", [](const v1::HostSummary& h) { return h.last_sequence() == 1; }))
      << first->Log() << collector_->Log();
  EXPECT_EQ(first->Stop(), 0);

  // The state folder is gone and kesl was removed meanwhile: a fresh agent would number its snapshot 1 again,
  // which the collector holds already (with kesl in it).
  fs::remove_all(state());
  WriteFile(root() / "var/lib/dpkg/status", BasePackages());
  auto second = StartAgent("second.log");
  ASSERT_TRUE(WaitForHost("alpha", [](const v1::HostSummary& h) {
    return h.verdict() == v1::VERDICT_CLEAN && h.last_sequence() == 2;
  })) << second->Log() << collector_->Log();
  const auto host = GetHost("alpha");
  ASSERT_TRUE(host);
  bool removed = false;
  for (const auto& event : host->history()) {
    removed = removed || (event.type() == v1::EVENT_TYPE_REMOVED && event.product_id() == "kesl" &&
                          event.sequence() == 2);
  }
  EXPECT_TRUE(removed) << host->DebugString();
  EXPECT_EQ(second->Stop(), 0);
}

TEST_F(DaemonCollectorTest, RequestScanReachesTheAgent) {
  auto agent = StartAgent("agent.log");
  ASSERT_TRUE(WaitForHost("alpha", [](const v1::HostSummary& h) { return h.connected() && h.last_sequence() == 1; }))
      << agent->Log() << collector_->Log();

  // /etc/hostname is not watched: only a scan asked for sees the new name.
  WriteFile(root() / "etc/hostname", "beta\n");
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  v1::RequestScanRequest request;
  request.set_host("alpha");
  request.set_reason("e2e test");
  v1::RequestScanResponse response;
  const grpc::Status status = fleet_->RequestScan(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.requested_size(), 1) << response.DebugString();

  ASSERT_TRUE(WaitForHost("beta", [](const v1::HostSummary& h) { return h.last_sequence() == 2; }))
      << agent->Log() << collector_->Log();
  EXPECT_NE(agent->Log().find("event=scan_now reason=\"e2e test\""), std::string::npos);
  EXPECT_EQ(agent->Stop(), 0);
}

}  // namespace
}  // namespace ksweep::daemon_test
