// The security cycle with real processes: `ksweep-collector init`, `ksweep-collector serve` (mutual TLS, the
// default), `ksweep-agent enroll` and `ksweep-agent run` (mutual TLS, the default), a query, a revocation, a refused
// reconnection; then the data dir and the agent's state folder are scanned: no secret in clear, keys 0600.
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>

#include <regex>

#include "ksweep/v1/fleet.grpc.pb.h"
#include "tests/integration/collector_process.h"
#include "tests/integration/daemon_harness.h"

namespace ksweep::daemon_test {
namespace {

using test::ReadFile;
using test::TempDir;

std::string CollectorBin() { return std::string(KSWEEP_BINARY_DIR) + "/server/ksweep-collector"; }

class SecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MakeRoot(root(), "alpha", KeslInstalled());
    auto init = test::RunProcess({CollectorBin(), "init", "--data", data(), "--name", "localhost,127.0.0.1",
                                  "--secret-out", secret_file(), "--token-out", base() + "/token"});
    ASSERT_TRUE(init.Exited(0)) << init.Describe();
    secret_ = ReadFile(secret_file());
    while (!secret_.empty() && secret_.back() == '\n') secret_.pop_back();
    ASSERT_EQ(secret_.size(), 4u + 64u);
    EXPECT_NE(init.out.find(secret_), std::string::npos) << "init prints the secret once";
    collector_ = std::make_unique<testing::CollectorProcess>(data(), std::vector<std::string>{}, /*tls=*/true);
    std::string error;
    ASSERT_TRUE(collector_->Start(&error)) << error;
    // The API port: TLS with the collector's CA, the admin token from init as the bearer.
    std::string token = ReadFile(base() + "/token");
    while (!token.empty() && token.back() == '\n') token.pop_back();
    token_ = token;
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadFile(data() + "/pki/ca.pem");
    fleet_ = v1::FleetService::NewStub(grpc::CreateChannel(
        collector_->api_address(),
        grpc::CompositeChannelCredentials(grpc::SslCredentials(ssl), grpc::AccessTokenCredentials(token))));
  }
  void TearDown() override {
    if (HasFailure() && collector_) std::cerr << "collector log:\n" << collector_->Log();
  }

  std::string base() const { return dir_.path(); }
  fs::path root() const { return fs::path(base()) / "root"; }
  std::string data() const { return base() + "/data"; }
  std::string state() const { return base() + "/state"; }
  std::string secret_file() const { return base() + "/secret"; }

  test::ProcessResult Enroll(const std::string& secret_path, const std::string& state_dir) {
    return test::RunProcess({test::AgentBinary(), "enroll", "--server", collector_->agent_address(), "--ca-cert",
                             data() + "/pki/ca.pem", "--secret-file", secret_path, "--state-dir", state_dir,
                             "--root", root().string(), "--timeout", "20"});
  }

  std::unique_ptr<AgentProcess> StartAgent(const std::string& log_name, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"run", "--server", collector_->agent_address(), "--state-dir", state(),
                                  "--root", root().string(), "--debounce-ms", "200", "--log-level", "debug"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto agent = std::make_unique<AgentProcess>(args, fs::path(base()) / log_name);
    agent->Start();
    return agent;
  }

  grpc::Status GetHost(const std::string& host, v1::Host* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::GetHostRequest req;
    req.set_host(host);
    return fleet_->GetHost(&ctx, req, out);
  }

  TempDir dir_{"security-e2e"};
  std::unique_ptr<testing::CollectorProcess> collector_;
  std::unique_ptr<v1::FleetService::Stub> fleet_;
  std::string secret_;
  std::string token_;
};

TEST_F(SecurityTest, EnrollReportQueryRevokeReconnectRefused) {
  // A wrong secret: refused, nothing written but the key the agent made for itself.
  test::WriteFile(base() + "/wrong", "kse_0000\n", 0600);
  auto wrong = Enroll(base() + "/wrong", base() + "/state-wrong");
  EXPECT_TRUE(wrong.Exited(4)) << wrong.Describe();
  EXPECT_NE(wrong.err.find("UNAUTHENTICATED"), std::string::npos) << wrong.err;
  EXPECT_FALSE(fs::exists(base() + "/state-wrong/tls/agent.pem"));

  auto enrolled = Enroll(secret_file(), state());
  ASSERT_TRUE(enrolled.Exited(0)) << enrolled.Describe();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(enrolled.out, m, std::regex("host_id=([0-9a-f]+)"))) << enrolled.out;
  const std::string host_id = m[1];

  // Report over mutual TLS (no --insecure), then query it.
  auto agent = StartAgent("agent.log");
  v1::Host host;
  ASSERT_TRUE(WaitUntil([&] { return GetHost(host_id, &host).ok() && host.summary().last_sequence() >= 1; }))
      << ReadFile(base() + "/agent.log");
  EXPECT_EQ(host.facts().hostname(), "alpha");
  const uint64_t sequence_before = host.summary().last_sequence();

  // Revoke, restart the agent: its reconnection is refused, and the collector says why.
  auto revoke = test::RunProcess({CollectorBin(), "revoke", "--data", data(), host_id});
  ASSERT_TRUE(revoke.Exited(0)) << revoke.Describe();
  EXPECT_EQ(agent->Stop(), 0);
  test::WriteFile(root() / "var/lib/dpkg/status", BasePackages());  // a change the agent would report
  auto again = StartAgent("agent2.log");
  EXPECT_TRUE(WaitUntil([&] {
    return collector_->Log().find("revoked") != std::string::npos &&
           ReadFile(base() + "/agent2.log").find("code=16 message=\"agent stream: client certificate") !=
               std::string::npos;  // 16: UNAUTHENTICATED
  })) << ReadFile(base() + "/agent2.log");
  ASSERT_TRUE(GetHost(host_id, &host).ok());
  EXPECT_EQ(host.summary().last_sequence(), sequence_before) << "a revoked agent's report was stored";
  again->Stop();

  // A plain-text agent against the TLS port is never welcomed.
  auto plain = StartAgent("agent3.log", {"--insecure"});
  EXPECT_TRUE(WaitUntil([&] { return ReadFile(base() + "/agent3.log").find("event=disconnected") != std::string::npos ||
                                     ReadFile(base() + "/agent3.log").find("UNAVAILABLE") != std::string::npos; }))
      << ReadFile(base() + "/agent3.log");
  EXPECT_EQ(ReadFile(base() + "/agent3.log").find("event=welcomed"), std::string::npos);
  plain->Stop();
  EXPECT_EQ(collector_->Stop(), 0);

  // The files left behind: no secret in clear anywhere, private keys and secret state 0600.
  const std::string secret_hex = secret_.substr(4);
  const std::string token_body = token_.substr(4);
  ASSERT_GE(token_body.size(), 40u);
  int keys = 0;
  for (const std::string& top : {data(), state()}) {
    for (const auto& entry : fs::recursive_directory_iterator(top)) {
      if (!entry.is_regular_file()) continue;
      const std::string path = entry.path().string();
      const std::string content = ReadFile(path);
      EXPECT_EQ(content.find(secret_hex), std::string::npos) << path << " holds the enrollment secret";
      EXPECT_EQ(content.find(token_body), std::string::npos) << path << " holds the admin token";
      struct stat st {};
      ASSERT_EQ(::stat(path.c_str(), &st), 0);
      EXPECT_EQ(st.st_mode & 022, 0u) << path << " is writable by group or others";
      const std::string name = entry.path().filename().string();
      const bool pki_file = path.find("/pki/") != std::string::npos || path.find("/tls/") != std::string::npos;
      if (content.find("PRIVATE KEY") != std::string::npos || name.ends_with(".key") ||
          (pki_file && !name.ends_with(".pem"))) {
        EXPECT_EQ(st.st_mode & 0777, 0600u) << path;
        if (content.find("PRIVATE KEY") != std::string::npos) ++keys;
      }
    }
  }
  EXPECT_EQ(keys, 3) << "ca.key, server.key, agent.key";
  for (const std::string& d : {data(), data() + "/pki", state(), state() + "/tls"}) {
    struct stat st {};
    ASSERT_EQ(::stat(d.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u) << d;
  }
}

}  // namespace
}  // namespace ksweep::daemon_test
