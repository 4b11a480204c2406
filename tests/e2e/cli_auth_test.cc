// The fleet API's TLS and tokens end to end, with real processes on loopback: `ksweep-collector init` (CA, server
// certificate, first admin token), `ksweep-collector serve` in its default TLS mode, the `ksweep` CLI and the Python
// example. An admin makes a viewer token, the viewer reads but cannot scan or administer, the token is revoked and
// refused; plain text, a missing or foreign CA, a missing token and an expired one all fail closed with their exit
// codes, and no token text is left in the data dir or the log.
#include <sys/stat.h>

#include <set>

#include "ksweep/v1/admin.pb.h"
#include "tests/e2e/cli_fleet.h"

namespace ksweep::cli_test {
namespace {

constexpr const char* kPython = "/usr/bin/python3";

class CliAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = tmp_.path() / "data";
    logs_ = tmp_.path() / "logs";
    fs::create_directories(logs_);
    Outcome init = RunCommand({CollectorBinary(), "init", "--data", data_.string(), "--name", "localhost,127.0.0.1",
                               "--token-out", (tmp_.path() / "admin.token").string()},
                              logs_);
    ASSERT_EQ(init.code, 0) << Describe(init);
    ca_ = (data_ / "pki/ca.pem").string();
    admin_file_ = (tmp_.path() / "admin.token").string();
    Serve({});
  }

  // Starts `serve` on the data dir with `extra` flags, and waits for its API address.
  void Serve(const std::vector<std::string>& extra) {
    fs::remove(data_ / "collector.ports");
    collector_ = std::make_unique<Child>(
        [&] {
          std::vector<std::string> argv{CollectorBinary(), "serve", "--data", data_.string(), "--agent-listen",
                                        "127.0.0.1:0", "--api-listen", "127.0.0.1:0", "--log-level", "debug",
                                        "--log-file", (logs_ / "collector.log").string()};
          argv.insert(argv.end(), extra.begin(), extra.end());
          return argv;
        }(),
        logs_ / "collector.out", logs_ / "collector.err");
    std::map<std::string, std::string> kv;
    ASSERT_TRUE(WaitFor([&] {
      if (!collector_->running()) return true;
      kv.clear();
      for (const auto& line : Lines(ReadFile(data_ / "collector.ports"))) {
        const auto eq = line.find('=');
        if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
      }
      return !kv["api_listen"].empty();
    }));
    ASSERT_TRUE(collector_->running()) << collector_->err() << ReadFile(logs_ / "collector.log");
    api_ = kv["api_listen"];
  }

  void TearDown() override {
    if (HasFailure() && collector_) std::cerr << ReadFile(logs_ / "collector.log") << "\n";
    if (collector_) collector_->Stop();
  }

  // `ksweep --server API --ca-cert CA ARGS...` with `env` (the token's environment) and nothing else.
  Outcome Ksweep(const std::vector<std::string>& args, const std::vector<std::string>& env) {
    std::vector<std::string> argv{CliBinary(), "--server", api_, "--ca-cert", ca_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, logs_, env);
  }
  std::vector<std::string> AdminEnv() { return {"KSWEEP_TOKEN_FILE=" + admin_file_}; }

  TempDir tmp_;
  fs::path data_, logs_;
  std::string ca_, admin_file_, api_;
  std::unique_ptr<Child> collector_;
};

TEST_F(CliAuthTest, ViewerTokenMadeUsedRevokedRefused) {
  // The admin token from init works; the admin makes a viewer token, printed once on stdout.
  Outcome summary = Ksweep({"summary", "-o", "json"}, AdminEnv());
  ASSERT_EQ(summary.code, 0) << Describe(summary);
  Outcome created = Ksweep({"tokens", "create", "dashboard", "--role", "viewer"}, AdminEnv());
  ASSERT_EQ(created.code, 0) << Describe(created);
  const auto lines = Lines(created.out);
  ASSERT_EQ(lines.size(), 1u) << created.out;
  const std::string viewer = lines[0];
  ASSERT_TRUE(viewer.starts_with("ksw_") && viewer.size() == 47) << viewer;
  EXPECT_NE(created.err.find("token dashboard (id "), std::string::npos) << created.err;
  const std::vector<std::string> viewer_env{"KSWEEP_TOKEN=" + viewer};

  // The viewer reads the fleet...
  Outcome read = Ksweep({"summary", "-o", "json"}, viewer_env);
  ASSERT_EQ(read.code, 0) << Describe(read);
  EXPECT_EQ(ParseJson<v1::Summary>(read.out).total_hosts(), 0);
  // ... and can neither scan, nor revoke hosts, nor touch tokens: exit 5, and nothing changes.
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"scan", "--all"}, {"hosts", "revoke", "some-host"}, {"tokens", "list"},
           {"tokens", "create", "sneaky", "--role", "admin"}, {"tokens", "revoke", "admin"}}) {
    Outcome r = Ksweep(args, viewer_env);
    EXPECT_EQ(r.code, 5) << args[0] << " " << args[1] << "\n" << Describe(r);
    EXPECT_NE(r.err.find("needs an admin token"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  Outcome list = Ksweep({"tokens", "list", "-o", "json"}, AdminEnv());
  ASSERT_EQ(list.code, 0) << Describe(list);
  const auto tokens = ParseJson<v1::ListTokensResponse>(list.out);
  ASSERT_EQ(tokens.tokens_size(), 2) << list.out;
  std::set<std::string> names;
  for (const auto& t : tokens.tokens()) {
    names.insert(t.name());
    EXPECT_FALSE(t.revoked());
    if (t.name() == "dashboard") {
      EXPECT_EQ(t.role(), v1::TOKEN_ROLE_VIEWER);
      EXPECT_TRUE(t.has_last_used());
    }
  }
  EXPECT_EQ(names, (std::set<std::string>{"admin", "dashboard"}));
  EXPECT_EQ(list.out.find("ksw_"), std::string::npos) << "listings never hold token texts";
  Outcome table = Ksweep({"tokens", "list"}, AdminEnv());
  ASSERT_EQ(table.code, 0) << Describe(table);
  EXPECT_TRUE(table.out.starts_with("ID ")) << table.out;
  EXPECT_NE(table.out.find("dashboard"), std::string::npos) << table.out;

  // Revoked: refused at once, exit 5, the message says why.
  Outcome revoked = Ksweep({"tokens", "revoke", "dashboard"}, AdminEnv());
  ASSERT_EQ(revoked.code, 0) << Describe(revoked);
  EXPECT_TRUE(revoked.out.starts_with("Token dashboard (id ")) << revoked.out;
  Outcome refused = Ksweep({"summary"}, viewer_env);
  EXPECT_EQ(refused.code, 5) << Describe(refused);
  EXPECT_NE(refused.err.find("the token has been revoked"), std::string::npos) << refused.err;
  Outcome again = Ksweep({"tokens", "revoke", "no-such-token"}, AdminEnv());
  EXPECT_EQ(again.code, 3) << Describe(again);

  // The Python example: TLS and a token from a file; the revoked one is refused (5).
  if (RunCommand({kPython, "-c", "import grpc, google.protobuf"}, logs_).code == 0) {
    const std::string script = std::string(KSWEEP_SOURCE_DIR) + "/examples/python/list_running.py";
    const std::string stubs = std::string(KSWEEP_BINARY_DIR) + "/python";
    Outcome py = RunCommand({kPython, script, "--server", api_, "--stubs", stubs, "--verdict", "clean"}, logs_,
                            {"KSWEEP_CA_CERT=" + ca_, "KSWEEP_TOKEN_FILE=" + admin_file_});
    EXPECT_EQ(py.code, 0) << Describe(py);
    Outcome py_revoked = RunCommand({kPython, script, "--server", api_, "--stubs", stubs, "--ca-cert", ca_}, logs_,
                                    viewer_env);
    EXPECT_EQ(py_revoked.code, 5) << Describe(py_revoked);
    Outcome py_plain = RunCommand({kPython, script, "--server", api_, "--stubs", stubs, "--insecure",
                                   "--timeout", "5"}, logs_, AdminEnv());
    EXPECT_EQ(py_plain.code, 4) << Describe(py_plain);
  }

  // No token text anywhere in the data dir or the log (read after a clean stop: info lines are flushed then); the
  // token store is 0600.
  ASSERT_EQ(collector_->Stop(), 0);
  std::string everything = ReadFile(logs_ / "collector.log");
  for (const auto& entry : fs::recursive_directory_iterator(data_)) {
    if (entry.is_regular_file()) everything += ReadFile(entry.path());
  }
  EXPECT_EQ(everything.find(viewer), std::string::npos);
  EXPECT_EQ(everything.find(viewer.substr(4)), std::string::npos);
  EXPECT_EQ(everything.find(Lines(ReadFile(admin_file_))[0].substr(4)), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat((data_ / "tokens.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string log = ReadFile(logs_ / "collector.log");
  EXPECT_NE(log.find("audit token created"), std::string::npos) << log;
  EXPECT_NE(log.find("audit token revoked"), std::string::npos) << log;
}

TEST_F(CliAuthTest, TransportAndTokenFailuresFailClosed) {
  // Plain text to the TLS port: no answer (4).
  Outcome plain = RunCommand({CliBinary(), "--insecure", "--server", api_, "--timeout", "5s", "summary"}, logs_);
  EXPECT_EQ(plain.code, 4) << Describe(plain);
  // A CA that did not sign the collector's certificate: the handshake fails (4), the token is not sent.
  const fs::path other = tmp_.path() / "other";
  Outcome other_init = RunCommand({CollectorBinary(), "init", "--data", other.string(), "--name", "127.0.0.1"}, logs_);
  ASSERT_EQ(other_init.code, 0) << Describe(other_init);
  Outcome foreign = RunCommand({CliBinary(), "--server", api_, "--ca-cert", (other / "pki/ca.pem").string(),
                                "--timeout", "5s", "summary"},
                               logs_, AdminEnv());
  EXPECT_EQ(foreign.code, 4) << Describe(foreign);
  // No token, or one nobody issued: 5.
  Outcome none = Ksweep({"summary"}, {});
  EXPECT_EQ(none.code, 5) << Describe(none);
  EXPECT_NE(none.err.find("missing 'authorization"), std::string::npos) << none.err;
  Outcome forged = Ksweep({"summary"}, {"KSWEEP_TOKEN=ksw_" + std::string(43, 'Q')});
  EXPECT_EQ(forged.code, 5) << Describe(forged);
  Outcome garbage = Ksweep({"summary"}, {"KSWEEP_TOKEN=hunter2"});
  EXPECT_EQ(garbage.code, 5) << Describe(garbage);
  EXPECT_EQ(garbage.err.find("hunter2"), std::string::npos) << "the token is never echoed: " << garbage.err;

  // A token made offline beside the running collector works at once; an expiring one stops working.
  const std::string offline_file = (tmp_.path() / "offline.token").string();
  Outcome offline = RunCommand({CollectorBinary(), "token", "create", "--data", data_.string(), "--name", "ops",
                                "--role", "viewer", "--expires", "2s", "--out", offline_file},
                               logs_);
  ASSERT_EQ(offline.code, 0) << Describe(offline);
  struct stat st {};
  ASSERT_EQ(::stat(offline_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::vector<std::string> ops_env{"KSWEEP_TOKEN_FILE=" + offline_file};
  Outcome fresh = Ksweep({"summary"}, ops_env);
  EXPECT_EQ(fresh.code, 0) << Describe(fresh);
  Outcome expired;
  EXPECT_TRUE(WaitFor([&] {
    expired = Ksweep({"summary"}, ops_env);
    return expired.code != 0;
  })) << Describe(expired);
  EXPECT_EQ(expired.code, 5) << Describe(expired);
  EXPECT_NE(expired.err.find("the token has expired"), std::string::npos) << expired.err;
  // KSWEEP_TOKEN wins over a token file; --token-file over KSWEEP_TOKEN_FILE.
  Outcome env_wins = Ksweep({"summary"}, {"KSWEEP_TOKEN_FILE=" + admin_file_, "KSWEEP_TOKEN=ksw_" + std::string(43, 'Q')});
  EXPECT_EQ(env_wins.code, 5) << Describe(env_wins);
  Outcome flag_wins = Ksweep({"--token-file", admin_file_, "summary"}, {"KSWEEP_TOKEN_FILE=" + offline_file});
  EXPECT_EQ(flag_wins.code, 0) << Describe(flag_wins);
}

// --api-rate/--api-burst set each token's request budget: past the burst, with a rate that refills nothing within
// the test, the next call is refused as RESOURCE_EXHAUSTED and another token is still served.
TEST_F(CliAuthTest, ApiRateFlagsLimitEachToken) {
  Outcome created = Ksweep({"tokens", "create", "reader", "--role", "viewer"}, AdminEnv());
  ASSERT_EQ(created.code, 0) << Describe(created);
  const std::vector<std::string> viewer_env{"KSWEEP_TOKEN=" + Lines(created.out).at(0)};
  collector_->Stop();
  Serve({"--api-rate", "0.001", "--api-burst", "2"});
  for (int i = 0; i < 2; ++i) {
    Outcome ok = Ksweep({"summary", "-o", "json"}, viewer_env);
    ASSERT_EQ(ok.code, 0) << i << "\n" << Describe(ok);
  }
  Outcome refused = Ksweep({"summary", "-o", "json"}, viewer_env);
  EXPECT_NE(refused.code, 0) << Describe(refused);
  EXPECT_NE(refused.err.find("RESOURCE_EXHAUSTED"), std::string::npos) << refused.err;
  Outcome other = Ksweep({"summary", "-o", "json"}, AdminEnv());
  EXPECT_EQ(other.code, 0) << Describe(other);

  Outcome bad = RunCommand({CollectorBinary(), "serve", "--data", data_.string(), "--api-rate", "0"}, logs_);
  EXPECT_EQ(bad.code, 2) << Describe(bad);
  EXPECT_NE(bad.err.find("--api-rate"), std::string::npos) << bad.err;
}

// A follower refused by its token's request rate gets RESOURCE_EXHAUSTED like one cut off for lagging, but without
// the collector's resume trailer: it fails with exit 1 instead of resuming (cli_follow_test covers the other one).
TEST_F(CliAuthTest, RateLimitedFollowerFailsInsteadOfResuming) {
  Outcome created = Ksweep({"tokens", "create", "tail", "--role", "viewer"}, AdminEnv());
  ASSERT_EQ(created.code, 0) << Describe(created);
  const std::vector<std::string> viewer_env{"KSWEEP_TOKEN=" + Lines(created.out).at(0)};
  collector_->Stop();
  // A budget of one request, refilled after the test: the follower's first check passes, its WatchEvents does not.
  Serve({"--api-rate", "0.001", "--api-burst", "1"});
  Outcome follow = Ksweep({"events", "--follow", "-o", "json"}, viewer_env);
  EXPECT_EQ(follow.code, 1) << Describe(follow);
  EXPECT_NE(follow.err.find("WatchEvents failed"), std::string::npos) << follow.err;
  EXPECT_NE(follow.err.find("RESOURCE_EXHAUSTED"), std::string::npos) << follow.err;
  EXPECT_EQ(follow.err.find("resuming"), std::string::npos) << follow.err;
}

}  // namespace
}  // namespace ksweep::cli_test
