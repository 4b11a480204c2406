// Rule distribution between the real `ksweep-collector serve --rules FILE` and the real `ksweep-agent run`: an agent
// reporting other rules is sent the collector's set after its Welcome, applies it (the next report has a product only
// that set knows), keeps it in its state folder across a restart (Hello then reports the pushed version, so the
// collector sends nothing), falls back to the built-in rules when that file is damaged, and ignores pushes when
// --rules pins its own. SIGHUP makes the collector re-read its file and push the new set to connected agents; a bad
// file at start-up is a start-up error naming it.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include "tests/integration/daemon_harness.h"

#include "ksweep/v1/fleet.grpc.pb.h"
#include "tests/e2e/host_lookup.h"
#include "tests/integration/collector_process.h"

namespace ksweep::daemon_test {
namespace {

using test::ReadFile;
using test::TempDir;
using test::WriteFile;

// A rule set whose only product is found by a folder in the fixture root: the built-in rules never flag that root.
std::string AcmeRules(const std::string& version, const std::string& product_id = "acme") {
  return R"({"version": ")" + version + R"(", "products": [{"id": ")" + product_id + R"(", "name": "Acme AV",
    "vendor": "Acme", "platform": "PLATFORM_LINUX", "signals": [{"kind": "SIGNAL_KIND_PATH",
    "pattern": "/opt/acme/acme-av", "strength": "STRENGTH_STRONG", "confidence": "CONFIDENCE_OFFICIAL"}]}]})";
}

// The built-in rules' version, as `ksweep-agent scan --json` of `root` reports it.
std::string BuiltinVersion(const fs::path& root) {
  const auto scan = test::ScanRoot(root.string());
  return scan.parsed ? scan.report.rules_version() : "(scan failed: " + scan.process.Describe() + ")";
}

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

class RulesPushTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MakeRoot(root(), "alpha", BasePackages());
    WriteFile(root() / "opt/acme/acme-av/bin/acmed", "#!/bin/sh\n", 0755);
    fs::create_directories(data());
    WriteFile(rules_file(), AcmeRules("e2e-pushed-1"));
  }

  fs::path base() const { return dir_.path(); }
  fs::path root() const { return base() / "root"; }
  fs::path state() const { return base() / "state"; }
  fs::path data() const { return base() / "data"; }
  fs::path rules_file() const { return base() / "fleet.rules.json"; }
  fs::path persisted() const { return state() / "rules.json"; }

  void StartCollector(std::vector<std::string> extra) {
    extra.push_back("--insecure");
    collector_ = std::make_unique<testing::CollectorProcess>(data().string(), std::move(extra));
    std::string error;
    ASSERT_TRUE(collector_->Start(&error)) << error;
    fleet_ = v1::FleetService::NewStub(
        grpc::CreateChannel(collector_->api_address(), grpc::InsecureChannelCredentials()));
  }

  std::unique_ptr<AgentProcess> StartAgent(const std::string& log_name, std::vector<std::string> extra = {}) {
    auto agent = std::make_unique<AgentProcess>(
        LoopbackRunArgs(collector_->agent_address(), state(), root(), std::move(extra)), base() / log_name);
    agent->Start();
    return agent;
  }

  std::optional<v1::HostSummary> Summary(const std::string& name) {
    auto host = test::LookUpHost(*fleet_, name);
    if (!host) return std::nullopt;
    return host->summary();
  }

  bool WaitForProducts(const std::string& name, const std::vector<std::string>& products) {
    return WaitUntil([&] {
      const auto summary = Summary(name);
      return summary && std::vector<std::string>(summary->products().begin(), summary->products().end()) == products;
    });
  }

  TempDir dir_;
  std::unique_ptr<testing::CollectorProcess> collector_;
  std::unique_ptr<v1::FleetService::Stub> fleet_;
};

TEST_F(RulesPushTest, PushedRulesApplyAndSurviveAgentRestart) {
  StartCollector({"--rules", rules_file().string()});
  auto first = StartAgent("first.log");
  // The built-in rules find nothing on this root; the pushed set finds acme, and the report says so.
  ASSERT_TRUE(WaitForProducts("alpha", {"acme"})) << first->Log() << collector_->Log();
  EXPECT_EQ(Summary("alpha")->verdict(), v1::VERDICT_INSTALLED);
  ASSERT_TRUE(first->WaitForLog("event=rules_updated version=e2e-pushed-1")) << first->Log();
  ASSERT_TRUE(fs::exists(persisted()));
  EXPECT_NE(ReadFile(persisted()).find("e2e-pushed-1"), std::string::npos);
  EXPECT_EQ(first->Stop(), 0);
  // Info lines reach the collector's log file when it flushes: read it once the collector has stopped.
  EXPECT_EQ(collector_->Stop(), 0);
  EXPECT_NE(collector_->Log().find("rules pushed host_id="), std::string::npos) << collector_->Log();
  EXPECT_NE(collector_->Log().find("version=e2e-pushed-1 agent_rules_version=" + BuiltinVersion(root())),
            std::string::npos)
      << collector_->Log();

  // The collector comes back without --rules: it sends none, and the agent keeps the ones it was given. (A restarted
  // collector appends to the same log file: only what follows `seen` is this run's.)
  size_t seen = collector_->Log().size();
  const auto since = [&] { return collector_->Log().substr(seen); };
  StartCollector({});
  auto second = StartAgent("second.log");
  ASSERT_TRUE(second->WaitForLog("event=rules source=state_dir version=e2e-pushed-1")) << second->Log();
  ASSERT_TRUE(second->WaitForLog("event=scan_done reason=start")) << second->Log();
  // Same findings as the report the collector holds: acme still found, nothing new to send.
  EXPECT_NE(second->Log().find("findings=1 changed=false"), std::string::npos) << second->Log();
  ASSERT_TRUE(second->WaitForLog("event=welcomed")) << second->Log();
  EXPECT_EQ(Summary("alpha")->products_size(), 1);
  EXPECT_EQ(second->Stop(), 0);
  EXPECT_EQ(collector_->Stop(), 0);
  EXPECT_NE(since().find("agent hello"), std::string::npos) << since();
  EXPECT_NE(since().find("rules_version=e2e-pushed-1"), std::string::npos) << since();
  EXPECT_EQ(since().find("rules pushed"), std::string::npos) << since();

  // And a collector with the same rules again: Hello already says e2e-pushed-1, so nothing is sent.
  seen = collector_->Log().size();
  StartCollector({"--rules", rules_file().string(), "--heartbeat-interval", "1"});
  auto third = StartAgent("third.log");
  // Rules would be queued right behind the Welcome: by the first heartbeat the agent would have read them.
  ASSERT_TRUE(third->WaitForLog("event=heartbeat_sent")) << third->Log();
  EXPECT_EQ(third->Log().find("event=rules_updated"), std::string::npos) << third->Log();
  EXPECT_EQ(third->Stop(), 0);
  EXPECT_EQ(collector_->Stop(), 0);
  EXPECT_NE(since().find("rules loaded file=" + rules_file().string() + " version=e2e-pushed-1"), std::string::npos)
      << since();
  EXPECT_NE(since().find("rules_version=e2e-pushed-1"), std::string::npos) << since();
  EXPECT_EQ(since().find("rules pushed"), std::string::npos) << since();
}

TEST_F(RulesPushTest, DamagedPersistedRulesFallBackToBuiltIn) {
  fs::create_directories(state());
  const std::string damaged = AcmeRules("e2e-pushed-1").substr(0, 70);
  WriteFile(persisted(), damaged);
  StartCollector({});
  auto agent = StartAgent("agent.log");
  ASSERT_TRUE(agent->WaitForLog("event=rules source=builtin")) << agent->Log();
  EXPECT_NE(agent->Log().find("event=state_file_corrupt path=" + persisted().string()), std::string::npos)
      << agent->Log();
  EXPECT_EQ(ReadFile(persisted().string() + ".corrupt"), damaged);
  EXPECT_FALSE(fs::exists(persisted()));
  // It runs on: the built-in rules find nothing here, and the host reports CLEAN.
  ASSERT_TRUE(WaitUntil([&] {
    const auto summary = Summary("alpha");
    return summary && summary->last_sequence() == 1 && summary->verdict() == v1::VERDICT_CLEAN;
  })) << agent->Log() << collector_->Log();
  EXPECT_EQ(agent->Stop(), 0);
}

TEST_F(RulesPushTest, ExplicitRulesFilePinsTheAgentsRules) {
  const fs::path local = base() / "local.rules.json";
  WriteFile(local, AcmeRules("host-local-1", "acme-local"));
  StartCollector({"--rules", rules_file().string()});
  auto agent = StartAgent("agent.log", {"--rules", local.string()});
  ASSERT_TRUE(agent->WaitForLog("event=rules source=file version=host-local-1")) << agent->Log();
  // The collector sees another version and sends its set; the agent keeps the one it was told to use.
  ASSERT_TRUE(agent->WaitForLog("event=rules_ignored version=e2e-pushed-1 current_version=host-local-1"))
      << agent->Log() << collector_->Log();
  ASSERT_TRUE(WaitForProducts("alpha", {"acme-local"})) << agent->Log() << collector_->Log();
  EXPECT_FALSE(fs::exists(persisted()));
  EXPECT_EQ(agent->Log().find("event=rules_updated"), std::string::npos) << agent->Log();
  EXPECT_EQ(agent->Stop(), 0);
}

TEST_F(RulesPushTest, SighupReloadsAndPushesToConnectedAgents) {
  StartCollector({"--rules", rules_file().string()});
  auto agent = StartAgent("agent.log");
  ASSERT_TRUE(WaitForProducts("alpha", {"acme"})) << agent->Log() << collector_->Log();

  // A bad file on reload: logged, the collector keeps serving its current set, nothing is sent.
  WriteFile(rules_file(), R"({"version": "e2e-pushed-2", "products": []})");
  ASSERT_EQ(::kill(collector_->pid(), SIGHUP), 0);
  ASSERT_TRUE(WaitUntil([&] { return collector_->Log().find("rules reload failed") != std::string::npos; }))
      << collector_->Log();
  EXPECT_NE(collector_->Log().find("kept_version=e2e-pushed-1"), std::string::npos) << collector_->Log();

  WriteFile(rules_file(), AcmeRules("e2e-pushed-2", "acme2"));
  ASSERT_EQ(::kill(collector_->pid(), SIGHUP), 0);
  ASSERT_TRUE(WaitForProducts("alpha", {"acme2"})) << agent->Log() << collector_->Log();
  EXPECT_NE(ReadFile(persisted()).find("e2e-pushed-2"), std::string::npos);
  EXPECT_EQ(agent->Stop(), 0);
  EXPECT_EQ(collector_->Stop(), 0);
  const std::string log = collector_->Log();
  EXPECT_NE(log.find("rules pushed host_id="), std::string::npos) << log;
  EXPECT_NE(log.find("version=e2e-pushed-2 agent_rules_version=e2e-pushed-1 reason=reload"), std::string::npos) << log;
  EXPECT_NE(log.find("rules reloaded file=" + rules_file().string() + " version=e2e-pushed-2 "
                     "previous_version=e2e-pushed-1 pushed=1"),
            std::string::npos)
      << log;
  EXPECT_EQ(Count(log, "rules pushed"), 2u) << log;
}

TEST_F(RulesPushTest, BadRulesFileIsAStartUpError) {
  const std::vector<std::string> common{"serve", "--data", data().string(), "--insecure", "--agent-listen",
                                        "127.0.0.1:0", "--api-listen", "127.0.0.1:0"};
  const fs::path bad = base() / "bad.rules.json";
  WriteFile(bad, R"({"version": "x", "products": [{"id": "Bad Id", "name": "n", "vendor": "v",
    "platform": "PLATFORM_LINUX", "signals": []}]})");

  std::string err;
  auto args = common;
  args.insert(args.end(), {"--rules", bad.string()});
  EXPECT_EQ(testing::RunCollector(args, &err), 2) << err;
  EXPECT_NE(err.find(bad.string()), std::string::npos) << err;
  EXPECT_NE(err.find("products[0].id"), std::string::npos) << err;

  // The same key in the config file.
  const fs::path config = base() / "collector.conf";
  WriteFile(config, "rules = " + bad.string() + "\n");
  args = common;
  args.insert(args.end(), {"--config", config.string()});
  EXPECT_EQ(testing::RunCollector(args, &err), 2) << err;
  EXPECT_NE(err.find(bad.string()), std::string::npos) << err;

  const fs::path absent = base() / "absent.rules.json";
  args = common;
  args.insert(args.end(), {"--rules", absent.string()});
  EXPECT_EQ(testing::RunCollector(args, &err), 2) << err;
  EXPECT_NE(err.find(absent.string()), std::string::npos) << err;

  // No version: agents could not be told apart by the rules they run.
  WriteFile(bad, AcmeRules(""));
  args = common;
  args.insert(args.end(), {"--rules", bad.string()});
  EXPECT_EQ(testing::RunCollector(args, &err), 2) << err;
  EXPECT_NE(err.find("version: missing"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(data() / "collector.ports"));
}

}  // namespace
}  // namespace ksweep::daemon_test
