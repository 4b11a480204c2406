// The collector's PKI against real TLS on loopback: an in-process collector started from a data dir made by
// InitPki, real gRPC clients with real certificates. Every refusal is checked for its gRPC code and for changing
// nothing (no certificate recorded, no host stored).
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <memory>

#include "agent/daemon/credentials.h"
#include "common/tls/credentials.h"
#include "common/tls/files.h"
#include "common/tls/x509.h"
#include "ksweep/v1/agent.grpc.pb.h"
#include "ksweep/v1/enroll.grpc.pb.h"
#include "server/collector.h"
#include "server/pki/init.h"
#include "tests/integration/test_util.h"

namespace ksweep {
namespace {

namespace fs = std::filesystem;

int64_t NowS() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct Identity {
  std::string key;
  std::string cert;
};

// A CSR carrying `subject_key`'s public key but signed with `signing_key`: what an attacker holding only someone
// else's public key could send.
std::string CsrSignedByOtherKey(const std::string& subject_key_pem, const std::string& signing_key_pem) {
  const auto load = [](const std::string& pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    EVP_PKEY* k = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    return k;
  };
  EVP_PKEY* subject = load(subject_key_pem);
  EVP_PKEY* signer = load(signing_key_pem);
  X509_REQ* req = X509_REQ_new();
  X509_REQ_set_version(req, 0);
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("victim"), -1, -1, 0);
  X509_REQ_set_pubkey(req, subject);
  X509_REQ_sign(req, signer, EVP_sha256());
  BIO* out = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(out, req);
  char* data = nullptr;
  const long n = BIO_get_mem_data(out, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(out);
  X509_REQ_free(req);
  EVP_PKEY_free(subject);
  EVP_PKEY_free(signer);
  return pem;
}

class PkiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server::pki::InitOptions init;
    init.data_dir = dir_.Sub("data");
    init.names = {"localhost", "127.0.0.1"};
    auto r = server::pki::InitPki(init, NowS());
    ASSERT_TRUE(r.ok()) << r.status().message();
    secret_ = r->secret;
    paths_ = r->paths;
    ca_pem_ = test::ReadFile(paths_.ca_cert);
    StartCollector();
  }

  void StartCollector() {
    server::CollectorOptions o;
    o.data_dir = dir_.Sub("data");
    o.agent_listen = "127.0.0.1:0";
    o.api_listen = "127.0.0.1:0";
    o.enroll.burst = kBurst;
    o.enroll.per_minute = 1;
    auto c = server::Collector::Start(o, &clock_, NullLogger());
    ASSERT_TRUE(c.ok()) << c.status().message();
    collector_ = std::move(*c);
  }

  std::shared_ptr<grpc::Channel> Channel(const std::string& cert = "", const std::string& key = "",
                                         const std::string& ca = "") {
    auto creds = tls::MakeChannelCredentialsFromPem(ca.empty() ? ca_pem_ : ca, cert, key);
    EXPECT_TRUE(creds.ok()) << creds.status().message();
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(collector_->agent_address(), *creds, args);
  }

  grpc::Status EnrollRpc(std::shared_ptr<grpc::Channel> channel, const std::string& host, const std::string& csr,
                         const std::string& secret, v1::EnrollResponse* out) {
    v1::EnrollRequest req;
    req.set_host_id(host);
    req.set_csr_pem(csr);
    req.set_secret(secret);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return v1::EnrollmentService::NewStub(channel)->Enroll(&ctx, req, out);
  }

  // Enrolls `host` with the right secret; the key never leaves this function's caller.
  Identity EnrollHost(const std::string& host) {
    Identity id;
    auto key = tls::GenerateKey();
    EXPECT_TRUE(key.ok());
    id.key = *key;
    auto csr = tls::MakeCsr(id.key, host);
    EXPECT_TRUE(csr.ok());
    v1::EnrollResponse resp;
    const grpc::Status s = EnrollRpc(Channel(), host, *csr, secret_, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    id.cert = resp.certificate_pem();
    return id;
  }

  // Opens AgentService.Connect as `claimed_host`: OK with the Welcome, else the stream's status.
  grpc::Status ConnectOnce(std::shared_ptr<grpc::Channel> channel, const std::string& claimed_host,
                           v1::CollectorMessage* first = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto stream = v1::AgentService::NewStub(channel)->Connect(&ctx);
    v1::AgentMessage hello;
    hello.mutable_hello()->mutable_host()->set_host_id(claimed_host);
    hello.mutable_hello()->mutable_host()->set_hostname("h");
    stream->Write(hello);
    v1::CollectorMessage msg;
    if (stream->Read(&msg)) {
      if (first) *first = msg;
      stream->WritesDone();
      ctx.TryCancel();
      stream->Finish();
      return grpc::Status::OK;
    }
    return stream->Finish();
  }

  using AgentStream = std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::CollectorMessage>>;

  // AgentService.Connect with `id`'s certificate and a Hello as `host`, kept open; the collector's first answer lands
  // in `first`. Null when the Hello or the answer did not go through. `ctx` must outlive the stream.
  AgentStream OpenStream(grpc::ClientContext* ctx, const Identity& id, const std::string& host,
                         v1::CollectorMessage* first) {
    auto stream = v1::AgentService::NewStub(Channel(id.cert, id.key))->Connect(ctx);
    v1::AgentMessage hello;
    hello.mutable_hello()->mutable_host()->set_host_id(host);
    if (!stream->Write(hello) || !stream->Read(first)) return nullptr;
    return stream;
  }

  size_t CertsOf(const std::string& host) {
    auto certs = collector_->authority()->store()->ForHost(host);
    EXPECT_TRUE(certs.ok());
    return certs.ok() ? certs->size() : 0;
  }

  bool HostStored(const std::string& host) { return collector_->store()->GetHost(host, 0).ok(); }

  static constexpr int kBurst = 6;
  test::TempDir dir_{"pki"};
  server::SystemClock clock_;
  std::unique_ptr<server::Collector> collector_;
  server::pki::PkiPaths paths_;
  std::string secret_;
  std::string ca_pem_;
};

TEST(TlsHelpers, CertificateCarriesSansSerialAndKey) {
  auto key = tls::GenerateKey();
  ASSERT_TRUE(key.ok());
  tls::CertSpec spec;
  spec.common_name = "ca";
  spec.not_before = NowS() - 10;
  spec.not_after = NowS() + 3600;
  auto ca = tls::SelfSignedCa(*key, spec);
  ASSERT_TRUE(ca.ok()) << ca.status().message();
  EXPECT_TRUE(ca->is_ca);
  auto leaf_key = tls::GenerateKey();
  tls::CertSpec leaf;
  leaf.common_name = "h1";
  leaf.dns_names = {"collector.example"};
  leaf.ip_addresses = {"10.1.2.3", "::1"};
  leaf.uris = {"ksweep://host/h1,DNS:evil"};  // a comma stays inside the one URI
  leaf.not_before = NowS();
  leaf.not_after = NowS() + 60;
  auto cert = tls::Issue(ca->pem, *key, *tls::PublicKeyOf(*leaf_key), leaf);
  ASSERT_TRUE(cert.ok()) << cert.status().message();
  EXPECT_EQ(cert->dns_names, std::vector<std::string>{"collector.example"});
  EXPECT_EQ(cert->ip_addresses, (std::vector<std::string>{"10.1.2.3", "::1"}));
  EXPECT_EQ(cert->uris, std::vector<std::string>{"ksweep://host/h1,DNS:evil"});
  EXPECT_FALSE(cert->is_ca);
  EXPECT_GE(cert->serial.size(), 31u);  // 127 or 128 random bits
  EXPECT_TRUE(*tls::KeyMatchesCert(*leaf_key, cert->pem));
  EXPECT_FALSE(*tls::KeyMatchesCert(*key, cert->pem));
  auto again = tls::Issue(ca->pem, *key, *tls::PublicKeyOf(*leaf_key), leaf);
  EXPECT_NE(again->serial, cert->serial);
  // Bad input names itself.
  EXPECT_FALSE(tls::ParseCert("not pem").ok());
  leaf.ip_addresses = {"10.1.2"};
  auto bad = tls::Issue(ca->pem, *key, *tls::PublicKeyOf(*leaf_key), leaf);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("10.1.2"), std::string::npos);
}

TEST(TlsHelpers, CsrSignedByAnotherKeyIsRefused) {
  auto a = tls::GenerateKey();
  auto b = tls::GenerateKey();
  auto good = tls::MakeCsr(*a, "h1");
  ASSERT_TRUE(good.ok());
  auto info = tls::VerifyCsr(*good);
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_EQ(info->public_key_pem, *tls::PublicKeyOf(*a));
  auto forged = tls::VerifyCsr(CsrSignedByOtherKey(*a, *b));
  ASSERT_FALSE(forged.ok());
  EXPECT_EQ(forged.status().code(), Status::Code::kInvalidArgument);
}

TEST(TlsHelpers, FilesGetTheirModeAtCreation) {
  test::TempDir dir("pki-files");
  const std::string key = dir.Sub("k");
  const mode_t old = ::umask(0);  // even a permissive umask cannot widen 0600
  ASSERT_TRUE(tls::WriteFileAtomic(key, "secret", tls::kPrivateMode).ok());
  ::umask(old);
  struct stat st {};
  ASSERT_EQ(::stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE(tls::WriteFileAtomic(key, "again", tls::kPrivateMode).ok());
  EXPECT_EQ(test::ReadFile(key), "again");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);  // no temp left
}

TEST_F(PkiTest, InitRefusesToReplaceTheCaWithoutForce) {
  server::pki::InitOptions again;
  again.data_dir = dir_.Sub("data");
  again.names = {"localhost"};
  auto r = server::pki::InitPki(again, NowS());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("--force"), std::string::npos);
  EXPECT_EQ(test::ReadFile(paths_.ca_cert), ca_pem_);
}

TEST_F(PkiTest, EnrolledAgentConnectsAsItsHost) {
  const Identity id = EnrollHost("host-a");
  auto cert = tls::ParseCert(id.cert);
  ASSERT_TRUE(cert.ok());
  EXPECT_EQ(cert->common_name, "host-a");
  EXPECT_EQ(cert->uris, std::vector<std::string>{"ksweep://host/host-a"});
  EXPECT_NEAR(static_cast<double>(cert->not_after - NowS()), 365.0 * 86400, 600);
  v1::CollectorMessage welcome;
  const grpc::Status s = ConnectOnce(Channel(id.cert, id.key), "host-a", &welcome);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(welcome.has_welcome());
  EXPECT_EQ(CertsOf("host-a"), 1u);
}

TEST_F(PkiTest, WrongOrMissingSecretIsUnauthenticatedAndSignsNothing) {
  auto key = tls::GenerateKey();
  auto csr = tls::MakeCsr(*key, "host-a");
  v1::EnrollResponse resp;
  EXPECT_EQ(EnrollRpc(Channel(), "host-a", *csr, secret_ + "x", &resp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(EnrollRpc(Channel(), "host-a", *csr, "", &resp).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(resp.certificate_pem().empty());
  EXPECT_EQ(CertsOf("host-a"), 0u);
}

TEST_F(PkiTest, CsrSignedByAnotherKeyIsInvalidArgument) {
  auto victim = tls::GenerateKey();
  auto attacker = tls::GenerateKey();
  v1::EnrollResponse resp;
  const grpc::Status s = EnrollRpc(Channel(), "host-a", CsrSignedByOtherKey(*victim, *attacker), secret_, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_EQ(CertsOf("host-a"), 0u);
}

TEST_F(PkiTest, BadHostIdIsInvalidArgument) {
  auto key = tls::GenerateKey();
  v1::EnrollResponse resp;
  EXPECT_EQ(EnrollRpc(Channel(), "../etc", *tls::MakeCsr(*key, "x"), secret_, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(PkiTest, ReEnrollmentIsAllowedAndAudited) {
  EnrollHost("host-a");
  EnrollHost("host-a");
  EXPECT_EQ(CertsOf("host-a"), 2u);
  auto lines = collector_->authority()->store()->AuditLines("host-a");
  ASSERT_TRUE(lines.ok());
  ASSERT_EQ(lines->size(), 2u);
  EXPECT_EQ((*lines)[0].rfind("enroll ", 0), 0u) << (*lines)[0];
  EXPECT_EQ((*lines)[1].rfind("re-enroll ", 0), 0u) << (*lines)[1];
}

TEST_F(PkiTest, AgentClaimingAnotherHostIsPermissionDeniedAndNothingStored) {
  const Identity a = EnrollHost("host-a");
  EXPECT_EQ(ConnectOnce(Channel(a.cert, a.key), "host-b").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_FALSE(HostStored("host-b"));
  auto lines = collector_->authority()->store()->AuditLines("host-a");
  ASSERT_TRUE(lines.ok());
  EXPECT_EQ(lines->back().rfind("host_id_mismatch ", 0), 0u) << lines->back();

  // A report whose host facts name another host, after an honest Hello: refused the same way.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::CollectorMessage welcome;
  auto stream = OpenStream(&ctx, a, "host-a", &welcome);
  ASSERT_TRUE(stream);
  v1::AgentMessage report;
  report.mutable_report()->set_sequence(1);
  report.mutable_report()->mutable_report()->mutable_host()->set_host_id("host-b");
  stream->Write(report);
  v1::CollectorMessage msg;
  while (stream->Read(&msg)) {
    EXPECT_FALSE(msg.has_ack()) << "a forged report was acknowledged";
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_FALSE(HostStored("host-b"));
  auto seq = collector_->store()->LastSequence("host-a");
  EXPECT_TRUE(!seq.ok() || *seq == 0);
}

TEST_F(PkiTest, NoClientCertificateIsUnauthenticatedForConnectAndRenew) {
  EXPECT_EQ(ConnectOnce(Channel(), "host-a").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  v1::RenewRequest req;
  auto key = tls::GenerateKey();
  req.set_csr_pem(*tls::MakeCsr(*key, "host-a"));
  v1::EnrollResponse resp;
  grpc::ClientContext ctx;
  EXPECT_EQ(v1::EnrollmentService::NewStub(Channel())->Renew(&ctx, req, &resp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_FALSE(HostStored("host-a"));
}

TEST_F(PkiTest, ForeignCaCertificateFailsTheHandshake) {
  auto other_ca_key = tls::GenerateKey();
  tls::CertSpec ca_spec;
  ca_spec.common_name = "ksweep collector CA";  // the same name does not help
  ca_spec.not_before = NowS() - 60;
  ca_spec.not_after = NowS() + 3600;
  auto other_ca = tls::SelfSignedCa(*other_ca_key, ca_spec);
  auto key = tls::GenerateKey();
  tls::CertSpec spec;
  spec.common_name = "host-a";
  spec.uris = {"ksweep://host/host-a"};
  spec.not_before = NowS() - 60;
  spec.not_after = NowS() + 3600;
  spec.client_auth = true;
  auto cert = tls::Issue(other_ca->pem, *other_ca_key, *tls::PublicKeyOf(*key), spec);
  ASSERT_TRUE(cert.ok());
  EXPECT_EQ(ConnectOnce(Channel(cert->pem, *key), "host-a").error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_FALSE(HostStored("host-a"));
}

TEST_F(PkiTest, ExpiredAndUnknownCertificatesAreRefused) {
  const std::string ca_key = test::ReadFile(paths_.ca_key);
  auto key = tls::GenerateKey();
  tls::CertSpec spec;
  spec.common_name = "host-a";
  spec.uris = {"ksweep://host/host-a"};
  spec.client_auth = true;
  spec.not_before = NowS() - 2 * 86400;
  spec.not_after = NowS() - 86400;
  auto expired = tls::Issue(ca_pem_, ca_key, *tls::PublicKeyOf(*key), spec);
  ASSERT_TRUE(expired.ok());
  EXPECT_EQ(ConnectOnce(Channel(expired->pem, *key), "host-a").error_code(), grpc::StatusCode::UNAVAILABLE);
  // Signed by our CA (a stolen CA key, or a lost certs.db) but never recorded: refused after the handshake.
  spec.not_before = NowS() - 60;
  spec.not_after = NowS() + 3600;
  auto unknown = tls::Issue(ca_pem_, ca_key, *tls::PublicKeyOf(*key), spec);
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(ConnectOnce(Channel(unknown->pem, *key), "host-a").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_FALSE(HostStored("host-a"));
}

TEST_F(PkiTest, PlainTextClientGetsNoAnswer) {
  auto channel = grpc::CreateChannel(collector_->agent_address(), grpc::InsecureChannelCredentials());
  auto key = tls::GenerateKey();
  v1::EnrollResponse resp;
  EXPECT_EQ(EnrollRpc(channel, "host-a", *tls::MakeCsr(*key, "host-a"), secret_, &resp).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ConnectOnce(channel, "host-a").error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(CertsOf("host-a"), 0u);
}

// The version floor comes from gRPC core (common/tls/credentials.h says why): checked here with the openssl client,
// whose own floor is lowered so that the refusal is the server's.
TEST_F(PkiTest, TlsBelow12IsRefusedAnd13IsPreferred) {
  const auto s_client = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> argv{"/usr/bin/openssl", "s_client", "-connect", collector_->agent_address(), "-alpn",
                                  "h2", "-cipher", "DEFAULT@SECLEVEL=0", "-CAfile", paths_.ca_cert};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return test::RunProcess(argv, test::RunOptions::WithDeadline(std::chrono::seconds(20)));
  };
  auto old = s_client({"-tls1_1"});
  EXPECT_EQ(old.out.find("New, TLSv1.1"), std::string::npos) << old.out;
  EXPECT_NE(old.out.find("New, (NONE)"), std::string::npos) << old.out << old.err;
  auto v12 = s_client({"-tls1_2"});
  EXPECT_NE(v12.out.find("New, TLSv1.2"), std::string::npos) << v12.out << v12.err;
  auto best = s_client({});
  EXPECT_NE(best.out.find("New, TLSv1.3"), std::string::npos) << best.out << best.err;
}

TEST_F(PkiTest, EnrollmentFloodFromOneSourceIsResourceExhausted) {
  auto key = tls::GenerateKey();
  const std::string csr = *tls::MakeCsr(*key, "host-a");
  v1::EnrollResponse resp;
  for (int i = 0; i < kBurst; ++i) {
    EXPECT_EQ(EnrollRpc(Channel(), "host-a", csr, "kse_guess" + std::to_string(i), &resp).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  // Past the burst even the right secret is refused: the limit counts attempts, not failures.
  const grpc::Status s = EnrollRpc(Channel(), "host-a", csr, secret_, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_EQ(CertsOf("host-a"), 0u);
}

TEST_F(PkiTest, RevocationDropsLiveStreamsAndRefusesReconnectAndRenewal) {
  const Identity a = EnrollHost("host-a");
  const Identity b = EnrollHost("host-b");
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::CollectorMessage welcome;
  auto stream = OpenStream(&ctx, a, "host-a", &welcome);
  ASSERT_TRUE(stream);
  ASSERT_TRUE(welcome.has_welcome());

  auto revoked = collector_->RevokeHost("host-a", "test");
  ASSERT_TRUE(revoked.ok()) << revoked.status().message();
  EXPECT_EQ(*revoked, 1);
  v1::CollectorMessage msg;
  while (stream->Read(&msg)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);

  EXPECT_EQ(ConnectOnce(Channel(a.cert, a.key), "host-a").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  v1::RenewRequest req;
  req.set_csr_pem(*tls::MakeCsr(a.key, "host-a"));
  v1::EnrollResponse resp;
  grpc::ClientContext renew_ctx;
  EXPECT_EQ(v1::EnrollmentService::NewStub(Channel(a.cert, a.key))->Renew(&renew_ctx, req, &resp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(CertsOf("host-a"), 1u);
  // Another host is untouched.
  EXPECT_TRUE(ConnectOnce(Channel(b.cert, b.key), "host-b").ok());
}

TEST_F(PkiTest, AgentRenewsOverItsOwnIdentity) {
  const std::string state = dir_.Sub("agent");
  agent::EnrollOptions eo;
  eo.server = collector_->agent_address();
  eo.ca_pem = ca_pem_;
  eo.secret = secret_;
  eo.host_id = "host-a";
  eo.state_dir = state;
  auto first = agent::Enroll(eo);
  ASSERT_TRUE(first.ok()) << first.status().message();
  const agent::AgentTlsPaths p = agent::AgentTlsPathsFor(state);
  struct stat st {};
  ASSERT_EQ(::stat(p.key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string key_before = test::ReadFile(p.key);

  EXPECT_FALSE(agent::RenewalDue(*first, NowS()));
  EXPECT_TRUE(agent::RenewalDue(*first, first->not_before + (first->not_after - first->not_before) * 2 / 3 + 1));
  auto renewed = agent::Renew(collector_->agent_address(), state, std::chrono::seconds(10));
  ASSERT_TRUE(renewed.ok()) << renewed.status().message();
  EXPECT_NE(renewed->serial, first->serial);
  EXPECT_EQ(renewed->common_name, "host-a");
  EXPECT_EQ(test::ReadFile(p.key), key_before);  // the key stays on the host, unchanged
  EXPECT_EQ(CertsOf("host-a"), 2u);
  auto lines = collector_->authority()->store()->AuditLines("host-a");
  EXPECT_EQ(lines->back().rfind("renew ", 0), 0u) << lines->back();
  // The daemon's credentials pick up the new certificate.
  auto creds = agent::AgentChannelCredentials(state);
  ASSERT_TRUE(creds.ok()) << creds.status().message();
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  EXPECT_TRUE(ConnectOnce(grpc::CreateCustomChannel(collector_->agent_address(), *creds, args), "host-a").ok());
  // Wrong secret through the agent's own enrollment path: refused, named.
  eo.secret = "kse_wrong";
  eo.state_dir = dir_.Sub("agent2");
  auto refused = agent::Enroll(eo);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("UNAUTHENTICATED"), std::string::npos) << refused.status().message();
}

}  // namespace
}  // namespace ksweep
