// The fleet API port's authentication, in process and over real TLS on loopback: the ApiAuthProcessor on the
// server credentials, FleetService and AdminService behind it, a SQLite token store in a temp data dir, and
// certificates made by the openssl command line. Negative cases are the point: each must fail with the right gRPC
// code and change nothing.
#include <sys/stat.h>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/basic_file_sink.h>

#include <memory>
#include <string>

#include "common/tls/credentials.h"
#include "ksweep/v1/admin.grpc.pb.h"
#include "ksweep/v1/agent.grpc.pb.h"
#include "ksweep/v1/fleet.grpc.pb.h"
#include "server/admin_service.h"
#include "server/agent_service.h"
#include "server/auth/api_auth.h"
#include "server/auth/token_store.h"
#include "server/event_bus.h"
#include "server/fleet_service.h"
#include "server/store/sqlite_store.h"
#include "tests/integration/test_util.h"

namespace ksweep::server {
namespace {

using ksweep::test::ReadFile;
using ksweep::test::RunProcess;
using ksweep::test::TempDir;

constexpr Micros kStart = 1'800'000'000LL * kMicrosPerSecond;

// A CA, a server certificate for localhost/127.0.0.1 and an agent's client certificate, by the openssl CLI.
struct Pki {
  std::string ca, server_cert, server_key, agent_cert, agent_key, other_ca;
};

void Openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = RunProcess(argv);
  ASSERT_TRUE(r.Exited(0)) << r.Describe();
}

Pki MakePki(const std::string& dir) {
  auto p = [&](const char* f) { return dir + "/" + f; };
  ksweep::test::WriteFile(p("server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  ksweep::test::WriteFile(p("agent.ext"), "extendedKeyUsage=clientAuth\n");
  Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", p("ca.key"),
           "-out", p("ca.pem"), "-days", "2", "-subj", "/CN=ksweep test CA"});
  Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
           p("other.key"), "-out", p("other.pem"), "-days", "2", "-subj", "/CN=another CA"});
  for (const char* who : {"server", "agent"}) {
    const std::string w = who;
    Openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
             p((w + ".key").c_str()), "-out", p((w + ".csr").c_str()), "-subj",
             "/CN=" + (w == "server" ? std::string("localhost") : std::string("0123456789abcdef0123456789abcdef"))});
    Openssl({"x509", "-req", "-in", p((w + ".csr").c_str()), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
             "-CAcreateserial", "-days", "2", "-extfile", p((w + ".ext").c_str()), "-out", p((w + ".pem").c_str())});
  }
  return Pki{ReadFile(p("ca.pem")),   ReadFile(p("server.pem")), ReadFile(p("server.key")),
             ReadFile(p("agent.pem")), ReadFile(p("agent.key")),  ReadFile(p("other.pem"))};
}

class ApiAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = MakePki(tmp_.path());
    ASSERT_FALSE(HasFatalFailure());
    log_path_ = tmp_.Sub("collector.log");
    logger_ = std::make_shared<spdlog::logger>("collector",
                                               std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_path_));
    logger_->set_level(spdlog::level::debug);
    logger_->flush_on(spdlog::level::debug);

    SqliteStoreOptions so;
    so.path = tmp_.Sub("ksweep.db");
    so.clock = &clock_;
    so.events = &bus_;
    so.logger = logger_;
    auto store = SqliteStore::Open(std::move(so));
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(*store);
    auto tokens = auth::OpenSqliteTokenStore(auth::TokenStorePath(tmp_.path()));
    ASSERT_TRUE(tokens.ok()) << tokens.status().message();
    tokens_ = std::move(*tokens);

    fleet_ = std::make_unique<FleetServiceImpl>(store_.get(), &registry_, &bus_, FleetLimits{}, logger_);
    admin_ = std::make_unique<AdminServiceImpl>(
        tokens_.get(), store_.get(), &clock_,
        [this](const std::string& host_id, const std::string& actor) -> Result<int> {
          revoked_hosts_.push_back(host_id + " by " + actor);
          return 1;
        },
        logger_);
    auto creds = tls::MakeServerCredentialsFromPem(pki_.server_cert, pki_.server_key, "", tls::ClientCertPolicy::kNone);
    ASSERT_TRUE(creds.ok()) << creds.status().message();
    auth::ApiAuthLimits limits;
    limits.requests_per_second = 1;
    limits.request_burst = 30;
    (*creds)->SetAuthMetadataProcessor(std::make_shared<auth::ApiAuthProcessor>(tokens_.get(), &clock_, limits, logger_));
    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort("127.0.0.1:0", *creds, &port);
    b.RegisterService(fleet_.get());
    b.RegisterService(admin_.get());
    server_ = b.BuildAndStart();
    ASSERT_TRUE(server_ && port != 0);
    port_ = port;

    // The first admin token, made offline as `ksweep-collector init` does.
    auto admin = auth::CreateTokenInDataDir(tmp_.path(), "root", auth::Role::kAdmin, clock_.Now(), 0);
    ASSERT_TRUE(admin.ok()) << admin.status().message();
    admin_token_ = admin->text;
  }

  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    if (store_) (void)store_->Close();
  }

  std::shared_ptr<grpc::Channel> TlsChannel(const std::string& cert = "", const std::string& key = "") {
    auto creds = tls::MakeChannelCredentialsFromPem(pki_.ca, cert, key);
    EXPECT_TRUE(creds.ok()) << creds.status().message();
    return grpc::CreateChannel("localhost:" + std::to_string(port_), *creds);
  }

  // One call with `authorization` set to `header` (none when empty).
  template <typename Call>
  grpc::Status WithHeader(const std::string& header, Call call) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!header.empty()) ctx.AddMetadata("authorization", header);
    return call(&ctx);
  }

  grpc::Status Summary(const std::string& token, std::shared_ptr<grpc::Channel> channel = nullptr) {
    auto stub = v1::FleetService::NewStub(channel ? channel : TlsChannel());
    v1::Summary s;
    return WithHeader(token.empty() ? "" : "Bearer " + token,
                      [&](grpc::ClientContext* c) { return stub->GetSummary(c, {}, &s); });
  }

  Result<v1::CreateTokenResponse> Create(const std::string& as, const std::string& name, v1::TokenRole role,
                                         int64_t expires_in = 0) {
    auto stub = v1::AdminService::NewStub(TlsChannel());
    v1::CreateTokenRequest req;
    req.set_name(name);
    req.set_role(role);
    req.set_expires_in_seconds(expires_in);
    v1::CreateTokenResponse resp;
    auto st = WithHeader("Bearer " + as, [&](grpc::ClientContext* c) { return stub->CreateToken(c, req, &resp); });
    if (!st.ok()) return Status::Internal(std::to_string(st.error_code()) + " " + st.error_message());
    return resp;
  }

  grpc::Status Revoke(const std::string& as, const std::string& what) {
    auto stub = v1::AdminService::NewStub(TlsChannel());
    v1::RevokeTokenRequest req;
    req.set_token(what);
    v1::ApiToken resp;
    return WithHeader("Bearer " + as, [&](grpc::ClientContext* c) { return stub->RevokeToken(c, req, &resp); });
  }

  size_t TokenCount() {
    auto list = tokens_->List();
    EXPECT_TRUE(list.ok());
    return list.ok() ? list->size() : 0;
  }

  std::string Log() { return ReadFile(log_path_); }

  TempDir tmp_{"api-auth"};
  Pki pki_;
  std::string log_path_;
  LoggerPtr logger_;
  ManualClock clock_{kStart};
  EventBus bus_;
  StreamRegistry registry_;
  StorePtr store_;
  auth::TokenStorePtr tokens_;
  std::unique_ptr<FleetServiceImpl> fleet_;
  std::unique_ptr<AdminServiceImpl> admin_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string admin_token_;
  std::vector<std::string> revoked_hosts_;
};

TEST_F(ApiAuthTest, AdminMakesViewerTokenThatReadsButCannotScanOrAdminister) {
  ASSERT_TRUE(Summary(admin_token_).ok());
  clock_.Advance(kMicrosPerSecond);  // listings are newest first
  auto viewer = Create(admin_token_, "alice", v1::TOKEN_ROLE_VIEWER);
  ASSERT_TRUE(viewer.ok()) << viewer.status().message();
  EXPECT_TRUE(auth::WellFormedToken(viewer->secret()));
  EXPECT_EQ(viewer->token().name(), "alice");
  EXPECT_EQ(viewer->token().role(), v1::TOKEN_ROLE_VIEWER);
  EXPECT_TRUE(Summary(viewer->secret()).ok());

  // RequestScan and every admin RPC: PERMISSION_DENIED, nothing changed.
  auto fleet = v1::FleetService::NewStub(TlsChannel());
  v1::RequestScanRequest scan;
  scan.mutable_filter();
  v1::RequestScanResponse scan_resp;
  auto st = WithHeader("Bearer " + viewer->secret(),
                       [&](grpc::ClientContext* c) { return fleet->RequestScan(c, scan, &scan_resp); });
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  EXPECT_NE(st.error_message().find("admin"), std::string::npos) << st.error_message();
  const size_t before = TokenCount();
  auto created = Create(viewer->secret(), "mallory", v1::TOKEN_ROLE_ADMIN);
  ASSERT_FALSE(created.ok());
  EXPECT_TRUE(created.status().message().starts_with(std::to_string(grpc::StatusCode::PERMISSION_DENIED) + " "))
      << created.status().message();
  EXPECT_EQ(TokenCount(), before);
  EXPECT_EQ(Revoke(viewer->secret(), "root").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(Summary(admin_token_).ok()) << "the admin token is untouched";
  auto admin = v1::AdminService::NewStub(TlsChannel());
  v1::RevokeHostRequest rh;
  rh.set_host("some-host");
  v1::RevokeHostResponse rh_resp;
  st = WithHeader("Bearer " + viewer->secret(), [&](grpc::ClientContext* c) { return admin->RevokeHost(c, rh, &rh_resp); });
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(revoked_hosts_.empty());
  v1::ListTokensResponse list;
  st = WithHeader("Bearer " + viewer->secret(),
                  [&](grpc::ClientContext* c) { return admin->ListTokens(c, {}, &list); });
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);

  // The admin can do each of them.
  st = WithHeader("Bearer " + admin_token_, [&](grpc::ClientContext* c) { return fleet->RequestScan(c, scan, &scan_resp); });
  EXPECT_TRUE(st.ok()) << st.error_message();
  st = WithHeader("Bearer " + admin_token_, [&](grpc::ClientContext* c) { return admin->RevokeHost(c, rh, &rh_resp); });
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(revoked_hosts_, std::vector<std::string>{"some-host by token:root"});
  EXPECT_EQ(rh_resp.certificates_revoked(), 1);
  st = WithHeader("Bearer " + admin_token_, [&](grpc::ClientContext* c) { return admin->ListTokens(c, {}, &list); });
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(list.tokens_size(), 2);
  EXPECT_EQ(list.tokens(0).name(), "alice");
  EXPECT_TRUE(list.tokens(0).has_last_used());
  EXPECT_EQ(list.tokens(1).name(), "root");

  // Audit lines name tokens by id and name; no token text is ever logged.
  const std::string log = Log();
  EXPECT_NE(log.find("audit token created token_id=" + viewer->token().id() + " token_name=alice role=viewer"),
            std::string::npos) << log;
  EXPECT_NE(log.find("audit admin call method=/ksweep.v1.FleetService/RequestScan"), std::string::npos) << log;
  EXPECT_NE(log.find("audit host revoked host_id=some-host"), std::string::npos) << log;
  EXPECT_NE(log.find("code=PERMISSION_DENIED"), std::string::npos) << log;
  EXPECT_EQ(log.find(viewer->secret()), std::string::npos);
  EXPECT_EQ(log.find(admin_token_), std::string::npos);
  EXPECT_EQ(log.find("ksw_"), std::string::npos) << log;
}

TEST_F(ApiAuthTest, MissingOrMalformedAuthorizationIsUnauthenticated) {
  auto st = Summary("");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  EXPECT_NE(st.error_message().find("missing 'authorization"), std::string::npos) << st.error_message();
  auto stub = v1::FleetService::NewStub(TlsChannel());
  const std::string body = admin_token_.substr(4);
  for (const std::string& header :
       {std::string("Basic ") + admin_token_, std::string("Bearer"), std::string("Bearer "),
        "Bearer  " + admin_token_, "Bearer " + admin_token_ + " ", "Bearer " + body, "Bearer ksw_" + body.substr(1),
        "Bearer ksw_" + body + "A", "Bearer ksw_" + body.substr(1) + "=", "Bearer ksw_" + body.substr(1) + "+",
        admin_token_}) {
    v1::Summary s;
    st = WithHeader(header, [&](grpc::ClientContext* c) { return stub->GetSummary(c, {}, &s); });
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << "header '" << header << "': " << st.error_message();
    EXPECT_EQ(st.error_message().find(admin_token_), std::string::npos) << "the value is never echoed";
  }
  // Two authorization values, one of them valid: refused, not "first one wins".
  v1::Summary s;
  st = WithHeader("Bearer " + admin_token_, [&](grpc::ClientContext* c) {
    c->AddMetadata("authorization", "Bearer ksw_" + std::string(43, 'A'));
    return stub->GetSummary(c, {}, &s);
  });
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  // The scheme is case-insensitive.
  st = WithHeader("bearer " + admin_token_, [&](grpc::ClientContext* c) { return stub->GetSummary(c, {}, &s); });
  EXPECT_TRUE(st.ok()) << st.error_message();
  // A well-formed token nobody made.
  auto forged = auth::MakeToken("forged", auth::Role::kAdmin, clock_.Now(), 0);
  ASSERT_TRUE(forged.ok());
  st = Summary(forged->text);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(st.error_message(), "the token is not valid");
}

TEST_F(ApiAuthTest, RevokedTokenIsRefusedAtOnce) {
  auto viewer = Create(admin_token_, "ci-bot", v1::TOKEN_ROLE_VIEWER);
  ASSERT_TRUE(viewer.ok()) << viewer.status().message();
  ASSERT_TRUE(Summary(viewer->secret()).ok());
  auto st = Revoke(admin_token_, "ci-bot");
  ASSERT_TRUE(st.ok()) << st.error_message();
  st = Summary(viewer->secret());
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(st.error_message(), "the token has been revoked");
  // By id, twice: no error, nothing more changes; an unknown name is NOT_FOUND.
  EXPECT_TRUE(Revoke(admin_token_, viewer->token().id()).ok());
  EXPECT_EQ(Revoke(admin_token_, "nobody").error_code(), grpc::StatusCode::NOT_FOUND);
  // The name is free again; the new token is a different one.
  auto again = Create(admin_token_, "ci-bot", v1::TOKEN_ROLE_VIEWER);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_NE(again->token().id(), viewer->token().id());
  EXPECT_TRUE(Summary(again->secret()).ok());
  EXPECT_EQ(Summary(viewer->secret()).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // A live name cannot be taken twice.
  auto dup = Create(admin_token_, "ci-bot", v1::TOKEN_ROLE_ADMIN);
  ASSERT_FALSE(dup.ok());
  EXPECT_TRUE(dup.status().message().starts_with(std::to_string(grpc::StatusCode::INVALID_ARGUMENT) + " "))
      << dup.status().message();
  // An admin revoking its own token locks itself out from the next call on.
  ASSERT_TRUE(Revoke(admin_token_, "root").ok());
  EXPECT_EQ(Summary(admin_token_).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(Log().find("audit token revoked token_id=" + viewer->token().id() + " token_name=ci-bot"),
            std::string::npos);
}

TEST_F(ApiAuthTest, ExpiredTokenIsRefused) {
  auto t = Create(admin_token_, "short", v1::TOKEN_ROLE_VIEWER, 3600);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_TRUE(t->token().has_expires());
  EXPECT_TRUE(Summary(t->secret()).ok());
  clock_.Advance(3599 * kMicrosPerSecond);
  EXPECT_TRUE(Summary(t->secret()).ok());
  clock_.Advance(1 * kMicrosPerSecond);
  auto st = Summary(t->secret());
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(st.error_message(), "the token has expired");
  EXPECT_TRUE(Summary(admin_token_).ok()) << "tokens without expiry do not expire";
  auto bad = Create(admin_token_, "negative", v1::TOKEN_ROLE_VIEWER, -1);
  ASSERT_FALSE(bad.ok());
  auto no_role = Create(admin_token_, "norole", v1::TOKEN_ROLE_UNSPECIFIED);
  ASSERT_FALSE(no_role.ok());
  auto bad_name = Create(admin_token_, "has space", v1::TOKEN_ROLE_VIEWER);
  ASSERT_FALSE(bad_name.ok());
  EXPECT_TRUE(bad_name.status().message().starts_with(std::to_string(grpc::StatusCode::INVALID_ARGUMENT) + " "));
}

TEST_F(ApiAuthTest, RateLimitPerToken) {
  auto a = Create(admin_token_, "busy", v1::TOKEN_ROLE_VIEWER);
  ASSERT_TRUE(a.ok());
  // The clock stands still: the burst (30) and not one more.
  int ok = 0;
  grpc::Status last;
  for (int i = 0; i < 31; ++i) {
    last = Summary(a->secret());
    if (last.ok()) ++ok;
  }
  EXPECT_EQ(ok, 30);
  EXPECT_EQ(last.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << last.error_message();
  EXPECT_NE(last.error_message().find("rate limit"), std::string::npos);
  // Another token is not slowed by it.
  EXPECT_TRUE(Summary(admin_token_).ok());
  // One second later: one more request (1 per second sustained).
  clock_.Advance(kMicrosPerSecond);
  EXPECT_TRUE(Summary(a->secret()).ok());
  EXPECT_EQ(Summary(a->secret()).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(ApiAuthTest, PlainTextClientAndAgentCertificateGetNothing) {
  // Plain text to the TLS port: the handshake fails, no call is made.
  auto plain = grpc::CreateChannel("127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials());
  auto st = Summary(admin_token_, plain);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  // A client that does not trust the server's CA does not send its token.
  auto foreign = tls::MakeChannelCredentialsFromPem(pki_.other_ca, "", "");
  ASSERT_TRUE(foreign.ok());
  st = Summary(admin_token_, grpc::CreateChannel("localhost:" + std::to_string(port_), *foreign));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  // An agent's client certificate, valid for this CA, gives no access: the port does not even ask for it.
  auto with_cert = TlsChannel(pki_.agent_cert, pki_.agent_key);
  st = Summary("", with_cert);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  EXPECT_TRUE(Summary(admin_token_, with_cert).ok()) << "the token is what counts";
  EXPECT_EQ(Log().find("0123456789abcdef0123456789abcdef"), std::string::npos) << "the certificate is never seen";
}

TEST_F(ApiAuthTest, TokenGivesNoAccessToAgentPort) {
  // The agent port as the collector builds it: client certificates required and verified against the CA.
  AgentServiceImpl agent(store_.get(), &registry_, &clock_, AgentLimits{}, logger_);
  auto creds = tls::MakeServerCredentialsFromPem(pki_.server_cert, pki_.server_key, pki_.ca,
                                                 tls::ClientCertPolicy::kRequireAndVerify);
  ASSERT_TRUE(creds.ok()) << creds.status().message();
  grpc::ServerBuilder b;
  int port = 0;
  b.AddListeningPort("127.0.0.1:0", *creds, &port);
  b.RegisterService(&agent);
  auto server = b.BuildAndStart();
  ASSERT_TRUE(server && port != 0);
  auto channel_creds = tls::MakeChannelCredentialsFromPem(pki_.ca, "", "");
  ASSERT_TRUE(channel_creds.ok());
  auto stub = v1::AgentService::NewStub(grpc::CreateChannel("localhost:" + std::to_string(port), *channel_creds));
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + admin_token_);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto stream = stub->Connect(&ctx);
  v1::AgentMessage hello;
  hello.mutable_hello()->set_agent_version("test");
  stream->Write(hello);
  v1::CollectorMessage reply;
  EXPECT_FALSE(stream->Read(&reply));
  auto st = stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  auto hosts = store_->GetSummary();
  ASSERT_TRUE(hosts.ok());
  EXPECT_EQ(hosts->total_hosts(), 0);
  server->Shutdown(std::chrono::system_clock::now());
}

TEST_F(ApiAuthTest, AdminServiceWithoutProcessorServesNobody) {
  // A plain-text server (--insecure) has no token check: the admin API refuses every call there.
  grpc::ServerBuilder b;
  int port = 0;
  b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  b.RegisterService(admin_.get());
  auto server = b.BuildAndStart();
  ASSERT_TRUE(server && port != 0);
  auto stub = v1::AdminService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  v1::CreateTokenRequest req;
  req.set_name("x");
  req.set_role(v1::TOKEN_ROLE_ADMIN);
  v1::CreateTokenResponse resp;
  const size_t before = TokenCount();
  auto st = WithHeader("Bearer " + admin_token_, [&](grpc::ClientContext* c) { return stub->CreateToken(c, req, &resp); });
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  EXPECT_EQ(TokenCount(), before);
  server->Shutdown(std::chrono::system_clock::now());
}

TEST_F(ApiAuthTest, TokenStoreKeepsOnlyHashesInAPrivateFile) {
  auto t = Create(admin_token_, "stored", v1::TOKEN_ROLE_VIEWER);
  ASSERT_TRUE(t.ok());
  const std::string path = auth::TokenStorePath(tmp_.path());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string raw = ReadFile(path);
  EXPECT_EQ(raw.find(t->secret()), std::string::npos);
  EXPECT_EQ(raw.find(t->secret().substr(4)), std::string::npos);
  EXPECT_EQ(raw.find(admin_token_.substr(4)), std::string::npos);
  EXPECT_NE(raw.find(auth::HashToken(t->secret())), std::string::npos) << "the hash is what is kept";
  // Opening again puts a widened mode back to 0600.
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  auto again = auth::OpenSqliteTokenStore(path);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(TokenTest, FormatAndHashing) {
  auto a = auth::MakeToken("a", auth::Role::kViewer, kStart, 0);
  auto b = auth::MakeToken("b", auth::Role::kViewer, kStart, 0);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->text.size(), auth::kTokenTextLength);
  EXPECT_TRUE(a->text.starts_with("ksw_"));
  EXPECT_NE(a->text, b->text);
  EXPECT_NE(a->record.id, b->record.id);
  EXPECT_EQ(a->record.id.size(), 16u);
  EXPECT_EQ(a->record.hash.size(), 32u);
  EXPECT_EQ(a->record.hash, auth::HashToken(a->text));
  EXPECT_TRUE(auth::ConstantTimeEqual(a->record.hash, auth::HashToken(a->text)));
  EXPECT_FALSE(auth::ConstantTimeEqual(a->record.hash, b->record.hash));
  EXPECT_FALSE(auth::ConstantTimeEqual(a->record.hash, a->record.hash.substr(1)));
  EXPECT_FALSE(auth::MakeToken("", auth::Role::kViewer, kStart, 0).ok());
  EXPECT_FALSE(auth::MakeToken(std::string(65, 'x'), auth::Role::kViewer, kStart, 0).ok());
  EXPECT_FALSE(auth::MakeToken("ok", auth::Role::kViewer, kStart, kStart).ok()) << "expiry in the past";
  EXPECT_EQ(auth::MethodRole("/ksweep.v1.FleetService/GetSummary"), auth::Role::kViewer);
  EXPECT_EQ(auth::MethodRole("/ksweep.v1.FleetService/RequestScan"), auth::Role::kAdmin);
  EXPECT_EQ(auth::MethodRole("/ksweep.v1.AdminService/ListTokens"), auth::Role::kAdmin);
  EXPECT_EQ(auth::MethodRole("/ksweep.v1.AgentService/Connect"), auth::Role::kAdmin);
  EXPECT_EQ(auth::MethodRole(""), auth::Role::kAdmin);
}

}  // namespace
}  // namespace ksweep::server
