// `ksweep-agent configure`: the real binary writes agent.conf and the copies into a temp config folder; `run` must
// accept the file it writes (parsed by run's own option table through `run --config FILE --help`).
#include <signal.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/integration/collector_process.h"
#include "tests/integration/test_util.h"

namespace ksweep::test {
namespace {

constexpr char kCaPem[] =
    "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// `ksweep-collector init` for 127.0.0.1, the enrollment secret written to `secret_file`.
void InitCollector(const std::string& data, const std::string& secret_file) {
  auto init = RunProcess({testing::CollectorBinary(), "init", "--data", data, "--name", "127.0.0.1", "--secret-out",
                          secret_file});
  ASSERT_TRUE(init.Exited(0)) << init.Describe();
}

ProcessResult Agent(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {AgentBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProcess(argv);
}

// `configure --server SERVER` with the CA and enrollment secret that InitCollector(data, secret_file) wrote, the state
// in `state` and the config in `etc`; `extra` options follow.
ProcessResult ConfigureFromCollector(const std::string& server, const std::string& data,
                                     const std::string& secret_file, const std::string& state, const std::string& etc,
                                     const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {"configure", "--server", server, "--ca-cert", data + "/pki/ca.pem", "--secret-file",
                                   secret_file, "--state-dir", state, "--config-dir", etc};
  args.insert(args.end(), extra.begin(), extra.end());
  return Agent(args);
}

TEST(ConfigureCommandTest, WritesAConfigThatRunAccepts) {
  TempDir dir("configure");
  const std::string etc = dir.Sub("etc/ksweep");
  auto r = Agent({"configure", "--server", "collector.example.org:7443", "--insecure", "--config-dir", etc});
  ASSERT_TRUE(r.Exited(0)) << r.Describe();
  EXPECT_NE(r.out.find("systemctl restart ksweep-agent"), std::string::npos) << r.out;

  const std::string conf = etc + "/agent.conf";
  EXPECT_EQ(ModeOf(conf), 0644u);
  EXPECT_EQ(ModeOf(etc), 0755u);
  EXPECT_NE(ReadFile(conf).find("\nserver = collector.example.org:7443\nstate-dir = /var/lib/ksweep/agent\n"
                                "insecure = true\n"),
            std::string::npos)
      << ReadFile(conf);
  EXPECT_FALSE(Exists(etc + "/agent-ca.pem"));
  EXPECT_FALSE(Exists(etc + "/agent-enroll.secret"));

  // run parses the config file with its own option table before it looks at --help: an unknown key fails here.
  auto run = Agent({"run", "--config", conf, "--help"});
  EXPECT_TRUE(run.Exited(0)) << run.Describe();
}

TEST(ConfigureCommandTest, CopiesCaCertificateAndSecretWithTightModes) {
  TempDir dir("configure");
  const std::string etc = dir.Sub("etc");
  WriteFile(dir.Sub("in/ca.pem"), kCaPem, 0600);
  WriteFile(dir.Sub("in/secret"), "s3cr3t-token\n\n", 0644);
  auto r = Agent({"configure", "--server", "10.0.0.5:7443", "--ca-cert", dir.Sub("in/ca.pem"), "--secret-file",
                  dir.Sub("in/secret"), "--config-dir", etc});
  ASSERT_TRUE(r.Exited(0)) << r.Describe();

  EXPECT_EQ(ReadFile(etc + "/agent-ca.pem"), kCaPem);
  EXPECT_EQ(ModeOf(etc + "/agent-ca.pem"), 0644u);
  EXPECT_EQ(ReadFile(etc + "/agent-enroll.secret"), "s3cr3t-token\n");
  EXPECT_EQ(ModeOf(etc + "/agent-enroll.secret"), 0600u);
  // agent.conf names the copies, so a service started before enrollment enrolls itself (run reads both keys).
  const std::string conf = ReadFile(etc + "/agent.conf");
  EXPECT_NE(conf.find("ca-cert = " + etc + "/agent-ca.pem\n"), std::string::npos) << conf;
  EXPECT_NE(conf.find("secret-file = " + etc + "/agent-enroll.secret\n"), std::string::npos) << conf;
  EXPECT_EQ(conf.find("s3cr3t"), std::string::npos) << conf;
  EXPECT_EQ(conf.find("insecure"), std::string::npos) << conf;
  EXPECT_NE(r.out.find("ksweep-agent enroll --config " + etc + "/agent.conf --ca-cert " + etc +
                       "/agent-ca.pem --secret-file " + etc + "/agent-enroll.secret"),
            std::string::npos)
      << r.out;
  auto run = Agent({"run", "--config", etc + "/agent.conf", "--help"});
  EXPECT_TRUE(run.Exited(0)) << run.Describe();
}

// --enroll hands the copies to the real `enroll` command: against a real collector made by `ksweep-collector init`,
// the agent leaves with its key and certificate in STATE/tls.
TEST(ConfigureCommandTest, EnrollEnrollsWithARealCollector) {
  TempDir dir("configure");
  const std::string data = dir.Sub("collector");
  ASSERT_NO_FATAL_FAILURE(InitCollector(data, dir.Sub("secret")));
  testing::CollectorProcess collector(data, {}, /*tls=*/true);
  std::string error;
  ASSERT_TRUE(collector.Start(&error)) << error;

  const std::string etc = dir.Sub("etc");
  const std::string state = dir.Sub("state");
  auto r = ConfigureFromCollector(collector.agent_address(), data, dir.Sub("secret"), state, etc,
                                  {"--enroll", "--enroll-timeout", "20"});
  ASSERT_TRUE(r.Exited(0)) << r.Describe() << "\ncollector log:\n" << collector.Log();
  EXPECT_NE(r.out.find("enrolled"), std::string::npos) << r.out;
  EXPECT_EQ(ModeOf(state + "/tls/agent.key"), 0600u);
  EXPECT_NE(ReadFile(state + "/tls/agent.pem").find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_EQ(ReadFile(state + "/tls/ca.pem"), ReadFile(data + "/pki/ca.pem"));
}

// Files dropped by configuration management (configure without --enroll) are enough: the service's first `run`
// enrolls itself with the CA and secret that agent.conf names, then reports over mutual TLS.
TEST(ConfigureCommandTest, RunEnrollsItselfFromTheConfiguredFiles) {
  TempDir dir("configure");
  const std::string data = dir.Sub("collector");
  ASSERT_NO_FATAL_FAILURE(InitCollector(data, dir.Sub("secret")));
  testing::CollectorProcess collector(data, {}, /*tls=*/true);
  std::string error;
  ASSERT_TRUE(collector.Start(&error)) << error;

  const std::string etc = dir.Sub("etc");
  const std::string state = dir.Sub("state");
  auto r = ConfigureFromCollector(collector.agent_address(), data, dir.Sub("secret"), state, etc);
  ASSERT_TRUE(r.Exited(0)) << r.Describe();
  EXPECT_NE(ReadFile(etc + "/agent.conf").find("ca-cert = " + etc + "/agent-ca.pem"), std::string::npos);
  ASSERT_FALSE(Exists(state + "/tls/agent.pem"));

  const std::string root = dir.Sub("root");
  WriteFile(root + "/etc/machine-id", "5d41402abc4b2a76b9719d911017c592\n");
  Child agent;
  ASSERT_TRUE(agent.Start({AgentBinary(), "run", "--config", etc + "/agent.conf", "--root", root}, &error)) << error;
  ASSERT_TRUE(WaitFor([&] { return Exists(state + "/tls/agent.pem"); }, std::chrono::seconds(60)))
      << "the agent did not enroll; collector log:\n" << collector.Log();
  EXPECT_EQ(ModeOf(state + "/tls/agent.key"), 0600u);
  EXPECT_EQ(ReadFile(state + "/tls/ca.pem"), ReadFile(data + "/pki/ca.pem"));
  // Still running: it went on to serve as the enrolled host rather than exiting.
  EXPECT_EQ(::kill(agent.pid(), 0), 0);
}

// With no collector listening, enroll's own failure (exit 4, its message) is configure's; the files stay for a retry.
TEST(ConfigureCommandTest, EnrollFailureIsReportedAndTheFilesStay) {
  TempDir dir("configure");
  const std::string data = dir.Sub("collector");
  ASSERT_NO_FATAL_FAILURE(InitCollector(data, dir.Sub("secret")));
  const std::string etc = dir.Sub("etc");
  // Port 1 on loopback: nothing listens there, so the connection is refused at once.
  auto r = ConfigureFromCollector("127.0.0.1:1", data, dir.Sub("secret"), dir.Sub("state"), etc,
                                  {"--enroll", "--enroll-timeout", "3"});
  EXPECT_TRUE(r.Exited(4)) << r.Describe();
  EXPECT_NE(r.err.find("enroll"), std::string::npos) << r.err;
  EXPECT_EQ(ReadFile(etc + "/agent-ca.pem"), ReadFile(data + "/pki/ca.pem"));
  EXPECT_EQ(ModeOf(etc + "/agent-enroll.secret"), 0600u);
}

TEST(ConfigureCommandTest, ReconfiguringReplacesItsKeysAndKeepsTheAdminsOthers) {
  TempDir dir("configure");
  const std::string etc = dir.Sub("etc");
  WriteFile(etc + "/agent.conf", "# mine\nserver = old.example:7443\nlog-level = debug\ninsecure = true\n");
  auto r = Agent({"configure", "--server", "new.example:9443", "--state-dir", "/srv/agent", "--config-dir", etc});
  ASSERT_TRUE(r.Exited(0)) << r.Describe();
  EXPECT_EQ(ReadFile(etc + "/agent.conf"),
            "# mine\nlog-level = debug\nserver = new.example:9443\nstate-dir = /srv/agent\n");
}

TEST(ConfigureCommandTest, BadInputWritesNothingAndNamesTheProblem) {
  TempDir dir("configure");
  const std::string etc = dir.Sub("etc");
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  WriteFile(dir.Sub("not-a-cert.pem"), "hello\n");
  WriteFile(dir.Sub("empty-secret"), "\n\n");
  WriteFile(dir.Sub("ca.pem"), kCaPem);
  const std::vector<Case> cases = {
      {{"configure", "--config-dir", etc}, "--server HOST:PORT is required"},
      {{"configure", "--server", "collector", "--config-dir", etc}, "expected HOST:PORT"},
      {{"configure", "--server", "collector:0", "--config-dir", etc}, "port must be a number from 1 to 65535"},
      {{"configure", "--server", "collector:99999", "--config-dir", etc}, "port must be a number"},
      {{"configure", "--server", "a b:7443", "--config-dir", etc}, "must not contain spaces"},
      {{"configure", "--server", "c:7443", "--ca-cert", dir.Sub("missing.pem"), "--secret-file",
        dir.Sub("empty-secret"), "--config-dir", etc},
       "missing.pem"},
      {{"configure", "--server", "c:7443", "--ca-cert", dir.Sub("not-a-cert.pem"), "--secret-file",
        dir.Sub("empty-secret"), "--config-dir", etc},
       "no PEM certificate"},
      {{"configure", "--server", "c:7443", "--ca-cert", dir.Sub("ca.pem"), "--secret-file", dir.Sub("empty-secret"),
        "--config-dir", etc},
       "empty"},
      {{"configure", "--server", "c:7443", "--ca-cert", dir.Sub("ca.pem"), "--config-dir", etc}, "go together"},
      {{"configure", "--server", "c:7443", "--ca-cert", dir.Sub("ca.pem"), "--secret-file", dir.Sub("empty-secret"),
        "--insecure", "--config-dir", etc},
       "exclude each other"},
      {{"configure", "--server", "c:7443", "--state-dir", "relative", "--config-dir", etc}, "absolute path"},
      {{"configure", "--server", "c:7443", "--enroll", "--config-dir", etc}, "--enroll needs --ca-cert"},
      {{"configure", "--server", "c:7443", "--bogus", "--config-dir", etc}, "bogus"},
  };
  for (const Case& c : cases) {
    auto r = Agent(c.args);
    EXPECT_TRUE(r.Exited(2)) << c.message << ": " << r.Describe();
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
    EXPECT_FALSE(Exists(etc)) << "wrote something for: " << c.message;
  }
}

}  // namespace
}  // namespace ksweep::test
