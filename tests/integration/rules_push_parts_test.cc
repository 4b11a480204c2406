// Rule distribution's parts on real files: the agent's persisted rules (agent/daemon/rules_store.h: round trip,
// absent, damaged and invalid files set aside, what a push must carry) and the collector's rules file
// (server/rules_distribution.h: start-up errors naming the file, which agents are sent the rules, reload).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "agent/daemon/rules_store.h"
#include "common/logging.h"
#include "common/rules.h"
#include "server/rules_distribution.h"
#include "tests/integration/test_util.h"

namespace ksweep {
namespace {

namespace fs = std::filesystem;
using test::ReadFile;
using test::TempDir;
using test::WriteFile;

// One product with one PATH signal: the smallest valid rule set, with a chosen version.
std::string RulesJson(const std::string& version) {
  return R"({"version": ")" + version + R"(", "products": [{"id": "acme", "name": "Acme AV", "vendor": "Acme",
    "platform": "PLATFORM_LINUX", "signals": [{"kind": "SIGNAL_KIND_PATH", "pattern": "/opt/acme",
    "strength": "STRENGTH_STRONG", "confidence": "CONFIDENCE_OFFICIAL"}]}]})";
}

v1::RuleSet Rules(const std::string& version) {
  auto rules = ParseRules(RulesJson(version), "test rules");
  EXPECT_TRUE(rules.ok()) << rules.status().ToString();
  return rules.ok() ? *rules : v1::RuleSet();
}

TEST(AgentRulesStore, PersistedRulesReadBackTheSame) {
  TempDir dir;
  EXPECT_FALSE(agent::LoadPersistedRules(dir.path(), NullLogger()).has_value());
  EXPECT_FALSE(fs::exists(agent::PersistedRulesPath(dir.path())));

  const v1::RuleSet pushed = Rules("pushed-3");
  ASSERT_TRUE(agent::PersistRules(dir.path(), pushed).ok());
  auto loaded = agent::LoadPersistedRules(dir.path(), NullLogger());
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->SerializeAsString(), pushed.SerializeAsString());
  // Readable by `ksweep-agent scan --rules`, as a person would check it.
  EXPECT_TRUE(LoadRulesFile(agent::PersistedRulesPath(dir.path())).ok());
  EXPECT_FALSE(fs::exists(agent::PersistedRulesPath(dir.path()) + ".tmp"));

  // Replaced whole by the next push.
  ASSERT_TRUE(agent::PersistRules(dir.path(), *BuiltinRules()).ok());
  loaded = agent::LoadPersistedRules(dir.path(), NullLogger());
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->version(), BuiltinRules()->version());
}

TEST(AgentRulesStore, DamagedOrInvalidFilesAreSetAside) {
  const std::string cases[] = {
      RulesJson("cut").substr(0, 60),                    // a torn write from an older, non-atomic tool
      R"({"version": "x", "products": []})",              // valid JSON, no products
      RulesJson(""),                                     // no version: the collector could never tell
      R"({"version": "x", "products": [], "extra": 1})",  // unknown field
  };
  for (const auto& content : cases) {
    TempDir dir;
    const std::string path = agent::PersistedRulesPath(dir.path());
    WriteFile(path, content);
    EXPECT_FALSE(agent::LoadPersistedRules(dir.path(), NullLogger()).has_value()) << content;
    EXPECT_FALSE(fs::exists(path)) << content;
    ASSERT_TRUE(fs::exists(path + ".corrupt")) << content;
    EXPECT_EQ(ReadFile(path + ".corrupt"), content);
    // Once set aside, the next start finds nothing and says nothing more.
    EXPECT_FALSE(agent::LoadPersistedRules(dir.path(), NullLogger()).has_value());
  }
}

TEST(AgentRulesStore, PushedRulesNeedProductsAndAVersion) {
  EXPECT_TRUE(agent::ValidatePushedRules(Rules("v1")).ok());
  EXPECT_TRUE(agent::ValidatePushedRules(*BuiltinRules()).ok());

  v1::RuleSet no_version = Rules("v1");
  no_version.clear_version();
  const Status missing = agent::ValidatePushedRules(no_version);
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("version"), std::string::npos) << missing.message();

  v1::RuleSet empty;
  empty.set_version("v2");
  const Status none = agent::ValidatePushedRules(empty);
  EXPECT_FALSE(none.ok());
  EXPECT_NE(none.message().find("no products"), std::string::npos) << none.message();
}

TEST(CollectorRules, BadFilesAreRefusedNamingFileAndReason) {
  TempDir dir;
  struct Case {
    std::string content;
    std::string reason;
  };
  const Case cases[] = {
      {R"({"version": "x", "products": []})", "no products"},
      {RulesJson(""), "version: missing"},
      {"{ not json", ""},
  };
  for (const auto& c : cases) {
    const std::string path = dir.Sub("rules.json");
    WriteFile(path, c.content);
    auto loaded = server::RulesDistribution::Load(path);
    ASSERT_FALSE(loaded.ok()) << c.content;
    EXPECT_NE(loaded.status().message().find(path), std::string::npos) << loaded.status().message();
    EXPECT_NE(loaded.status().message().find(c.reason), std::string::npos) << loaded.status().message();
  }
  auto missing = server::RulesDistribution::Load(dir.Sub("absent.json"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(dir.Sub("absent.json")), std::string::npos);
}

TEST(CollectorRules, SentOnlyToAgentsWithAnotherVersion) {
  TempDir dir;
  const std::string path = dir.Sub("rules.json");
  WriteFile(path, RulesJson("fleet-1"));
  auto rules = server::RulesDistribution::Load(path);
  ASSERT_TRUE(rules.ok()) << rules.status().ToString();
  EXPECT_EQ((*rules)->version(), "fleet-1");
  EXPECT_EQ((*rules)->ForAgent("fleet-1"), nullptr);
  for (const std::string& other : std::vector<std::string>{"", "fleet-0", BuiltinRules()->version()}) {
    const auto message = (*rules)->ForAgent(other);
    ASSERT_NE(message, nullptr) << other;
    ASSERT_TRUE(message->has_rules());
    EXPECT_EQ(message->rules().version(), "fleet-1");
    EXPECT_EQ(message->rules().products(0).id(), "acme");
  }
}

TEST(CollectorRules, ReloadKeepsTheCurrentSetWhenTheFileIsBad) {
  TempDir dir;
  const std::string path = dir.Sub("rules.json");
  WriteFile(path, RulesJson("fleet-1"));
  auto loaded = server::RulesDistribution::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  auto& rules = **loaded;

  WriteFile(path, R"({"version": "fleet-2", "products": []})");
  auto failed = rules.Reload();
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("no products"), std::string::npos) << failed.status().message();
  EXPECT_EQ(rules.version(), "fleet-1");
  EXPECT_EQ(rules.ForAgent("fleet-1"), nullptr);

  WriteFile(path, RulesJson("fleet-2"));
  auto previous = rules.Reload();
  ASSERT_TRUE(previous.ok()) << previous.status().ToString();
  EXPECT_EQ(*previous, "fleet-1");
  EXPECT_EQ(rules.version(), "fleet-2");
  ASSERT_NE(rules.ForAgent("fleet-1"), nullptr);
  EXPECT_EQ(rules.ForAgent("fleet-1")->rules().version(), "fleet-2");
}

}  // namespace
}  // namespace ksweep
