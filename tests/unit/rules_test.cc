#include "common/rules.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace ksweep {
namespace {

TEST(BuiltinRules, LoadAndValidate) {
  auto rules = BuiltinRules();
  ASSERT_TRUE(rules.ok()) << rules.status().message();
  EXPECT_FALSE(rules->version().empty());
}

// Every Linux product of the field guide (shared/kaspersky-detection.md, section 1.1) has a rule.
TEST(BuiltinRules, CoverEveryLinuxProductOfTheGuide) {
  auto rules = BuiltinRules();
  ASSERT_TRUE(rules.ok());
  std::set<std::string> ids;
  std::set<std::string> packages;
  for (const auto& p : rules->products()) {
    ids.insert(p.id());
    for (const auto& s : p.signals()) {
      if (s.kind() == v1::SIGNAL_KIND_PACKAGE) packages.insert(s.pattern());
    }
  }
  for (const char* id : {"kesl", "klnagent", "ksc", "ksc-web-console", "kess", "kics", "kwts", "ksmg", "kav4fs",
                         "kav4ws", "klms", "scanengine", "ksvla", "cybertrace"}) {
    EXPECT_TRUE(ids.count(id)) << "no rule for product " << id;
  }
  for (const char* pkg : {"kesl", "kesl-gui", "klnagent64", "klnagent", "ksc64", "ksc-web-console", "kess",
                          "kess-gui", "kics", "kics-gui", "kwts", "ksmg", "kav4fs", "kav4ws", "klms"}) {
    EXPECT_TRUE(packages.count(pkg)) << "no package signal for " << pkg;
  }
}

// What the guide marks Inferred says so in the rules, and weak/shared identifiers are never STRONG.
TEST(BuiltinRules, ConfidenceAndStrengthFollowTheGuide) {
  auto rules = BuiltinRules();
  ASSERT_TRUE(rules.ok());
  // Every identifier the guide marks Inferred (or does not give at all), as "KIND pattern".
  const std::set<std::string> inferred = {
      "PACKAGE kav4ws", "PACKAGE klms", "PACKAGE kics-gui", "PROCESS wdserver", "SERVICE klnagent.service",
      "SERVICE kav4fs-supervisor", "PATH /etc/opt/kaspersky", "PACKAGE_VENDOR *kaspersky*",
      // Windows: the Publisher string, versioned and renamed DisplayNames, KSWS's kavfsslp, every UltraAV identifier.
      "INSTALLED_PROGRAM *", "INSTALLED_PROGRAM Kaspersky Anti-Virus [0-9]*",
      "INSTALLED_PROGRAM Kaspersky Secure Connection*", "WINDOWS_SERVICE kavfsslp",
      "PATH /Program Files/Kaspersky Lab/Kaspersky Total Security *",
      "PATH /Program Files (x86)/Kaspersky Lab/Kaspersky Total Security *", "INSTALLED_PROGRAM UltraAV*",
      "INSTALLED_PROGRAM UltraVPN*", "PATH /Program Files/UltraAV", "PATH /Program Files (x86)/UltraAV",
      "PATH /Program Files/UltraVPN", "PATH /Program Files (x86)/UltraVPN",
      // macOS: no app bundle id is in a source; UltraAV's path and bundle (any id at that path) neither.
      "APP_BUNDLE com.kaspersky.*", "PATH /Applications/UltraAV.app", "APP_BUNDLE *"};
  const std::set<std::string> weak = {"MODULE redirfs*", "MODULE avflt*", "PROCESS wdserver",
                                      "WINDOWS_SERVICE kavfsgt", "WINDOWS_SERVICE kavfsmui",
                                      "WINDOWS_SERVICE kavfsrcn", "WINDOWS_SERVICE kavfswh",
                                      "WINDOWS_SERVICE kavfsslp", "PROCESS ksdeui.exe",
                                      // The KAV for Mac / KESMac line's legacy kexts, shared by its products.
                                      "KERNEL_EXTENSION com.kaspersky.kext.klif", "KERNEL_EXTENSION com.kaspersky.nke",
                                      "KERNEL_EXTENSION com.kaspersky.nke.interceptors",
                                      "KERNEL_EXTENSION com.kaspersky.kext.kimul*"};
  std::set<std::string> seen;
  for (const auto& p : rules->products()) {
    for (const auto& s : p.signals()) {
      std::string kind = v1::SignalKind_Name(s.kind()).substr(std::string("SIGNAL_KIND_").size());
      if (kind == "KERNEL_MODULE") kind = "MODULE";
      const std::string key = kind + " " + s.pattern();
      if (inferred.count(key)) {
        EXPECT_EQ(s.confidence(), v1::CONFIDENCE_INFERRED) << p.id() << " " << key;
        seen.insert(key);
      }
      if (weak.count(key)) {
        EXPECT_EQ(s.strength(), v1::STRENGTH_WEAK) << p.id() << " " << key;
      }
      if (s.confidence() == v1::CONFIDENCE_INFERRED) {
        EXPECT_TRUE(inferred.count(key)) << "inferred but not in the guide's list: " << p.id() << " " << key;
      }
      EXPECT_FALSE(s.source().empty()) << p.id() << " " << key << " has no source";
    }
  }
  EXPECT_EQ(seen, inferred);
}

// A `kl*` driver or an `AVP*` service names no vendor: on its own it is someone else's as often as Kaspersky's, so a
// rule that may establish a finding with it must also ask for a Kaspersky company, publisher or image path.
TEST(BuiltinRules, SharedWindowsNamesNeedAQualifier) {
  auto rules = BuiltinRules();
  ASSERT_TRUE(rules.ok());
  int checked = 0;
  for (const auto& p : rules->products()) {
    for (const auto& s : p.signals()) {
      if (s.pattern() != "kl*" && s.pattern() != "AVP*" && s.pattern() != "*") continue;
      ++checked;
      EXPECT_TRUE(!s.vendor().empty() || !s.image().empty()) << p.id() << " " << s.pattern() << " has no qualifier";
    }
  }
  EXPECT_GT(checked, 0);
}

std::string Product(const std::string& body) {
  return R"({"version":"t","products":[)" + body + "]}";
}

constexpr const char* kGoodSignal =
    R"({"kind":"SIGNAL_KIND_PACKAGE","pattern":"kesl","strength":"STRENGTH_STRONG","confidence":"CONFIDENCE_OFFICIAL"})";

std::string GoodProduct(const std::string& id = "kesl", const std::string& extra_signal = "") {
  return R"({"id":")" + id + R"(","name":"KESL","platform":"PLATFORM_LINUX","signals":[)" + kGoodSignal +
         (extra_signal.empty() ? "" : "," + extra_signal) + "]}";
}

void ExpectRefused(const std::string& json, const std::vector<std::string>& fragments) {
  auto r = ParseRules(json, "/etc/ksweep/rules.json");
  ASSERT_FALSE(r.ok()) << json;
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  const std::string& m = r.status().message();
  EXPECT_EQ(m.rfind("/etc/ksweep/rules.json: ", 0), 0u) << m;
  for (const auto& f : fragments) EXPECT_NE(m.find(f), std::string::npos) << "'" << f << "' not in: " << m;
}

TEST(ParseRules, AcceptsAMinimalFile) {
  auto r = ParseRules(Product(GoodProduct()), "x");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->products(0).signals(0).pattern(), "kesl");
}

TEST(ParseRules, RefusesEachKindOfError) {
  ExpectRefused("{not json", {});
  ExpectRefused(R"({"products":[{"id":"a","nmae":"x"}]})", {"nmae"});
  ExpectRefused(Product(R"({"name":"x","platform":"PLATFORM_LINUX","signals":[)" + std::string(kGoodSignal) + "]}"),
                {"products[0].id", "missing"});
  ExpectRefused(Product(GoodProduct("kesl") + "," + GoodProduct("kesl")), {"products[1].id", "duplicate id 'kesl'"});
  ExpectRefused(Product(GoodProduct("Bad Id")), {"products[0].id", "not a slug"});
  ExpectRefused(Product(GoodProduct("kesl", R"({"kind":"SIGNAL_KIND_PACKAGE","pattern":"kesl[","strength":"STRENGTH_STRONG","confidence":"CONFIDENCE_CODE"})")),
                {"products[0] (kesl).signals[1].", "pattern", "unclosed '['"});
  ExpectRefused(Product(GoodProduct("kesl", R"({"kind":"SIGNAL_KIND_PATH","pattern":"opt/kaspersky","strength":"STRENGTH_STRONG","confidence":"CONFIDENCE_CODE"})")),
                {"signals[1]", "absolute"});
  ExpectRefused(Product(GoodProduct("kesl", R"({"kind":"SIGNAL_KIND_PATH","pattern":"/opt/*/kesl","strength":"STRENGTH_STRONG","confidence":"CONFIDENCE_CODE"})")),
                {"signals[1]", "last path component"});
  ExpectRefused(Product(GoodProduct("kesl", R"({"kind":"SIGNAL_KIND_PACKAGE","pattern":"x","confidence":"CONFIDENCE_CODE"})")),
                {"signals[1]", "strength"});
  ExpectRefused(Product(GoodProduct("kesl", R"({"kind":"SIGNAL_KIND_PACKAGE","pattern":"x","strength":"STRENGTH_WEAK"})")),
                {"signals[1]", "confidence"});
  ExpectRefused(Product(GoodProduct("kesl", R"({"kind":"SIGNAL_KIND_PROCESS","pattern":"x","strength":"STRENGTH_WEAK","confidence":"CONFIDENCE_CODE","implies":"IMPLIES_REMNANT"})")),
                {"signals[1]", "implies"});
  ExpectRefused(Product(R"({"id":"w","name":"W","platform":"PLATFORM_LINUX","signals":[{"kind":"SIGNAL_KIND_KERNEL_MODULE","pattern":"redirfs*","strength":"STRENGTH_WEAK","confidence":"CONFIDENCE_CODE"}]})"),
                {"products[0] (w).signals", "no STRONG signal"});
  ExpectRefused(Product(R"({"id":"w","name":"W","signals":[)" + std::string(kGoodSignal) + "]}"),
                {"products[0] (w).platform", "missing"});
  ExpectRefused(R"({"version":"t","products":[]})", {"no products"});
  ExpectRefused(Product(R"({"id":"v","name":"V","platform":"PLATFORM_LINUX","signals":[)" + std::string(kGoodSignal) +
                        R"(],"version_sources":[{"file":"/opt/x/VERSION","regex":"([0-9."}]})"),
                {"version_sources[0].regex", "does not compile"});
  ExpectRefused(Product(R"({"id":"v","name":"V","platform":"PLATFORM_LINUX","signals":[)" + std::string(kGoodSignal) +
                        R"(],"version_sources":[{"file":"/opt/x/VERSION","regex":"[0-9.]+"}]})"),
                {"version_sources[0].regex", "capture group"});
}

TEST(LoadRulesFile, NamesAMissingFile) {
  auto r = LoadRulesFile("/nonexistent/ksweep/rules.json");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/ksweep/rules.json"), std::string::npos);
}

}  // namespace
}  // namespace ksweep
