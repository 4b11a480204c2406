#include "agent/probes/dpkg_status.h"

#include <gtest/gtest.h>

namespace ksweep::agent {
namespace {

TEST(DpkgStatusWord, ThirdWordDecidesWhateverTheWant) {
  PackageState s;
  ASSERT_TRUE(PackageStateFromDpkgStatus("install ok installed", &s));
  EXPECT_EQ(s, PackageState::kInstalled);
  // The case other inventory tools get wrong: a held package is installed.
  ASSERT_TRUE(PackageStateFromDpkgStatus("hold ok installed", &s));
  EXPECT_EQ(s, PackageState::kInstalled);
  ASSERT_TRUE(PackageStateFromDpkgStatus("deinstall ok installed", &s));
  EXPECT_EQ(s, PackageState::kInstalled);
  ASSERT_TRUE(PackageStateFromDpkgStatus("purge ok installed", &s));
  EXPECT_EQ(s, PackageState::kInstalled);
  for (const char* broken : {"install ok unpacked", "install reinstreq half-installed", "install ok half-configured",
                             "install ok triggers-awaited", "hold ok triggers-pending"}) {
    ASSERT_TRUE(PackageStateFromDpkgStatus(broken, &s)) << broken;
    EXPECT_EQ(s, PackageState::kBroken) << broken;
  }
  ASSERT_TRUE(PackageStateFromDpkgStatus("deinstall ok config-files", &s));
  EXPECT_EQ(s, PackageState::kConfigFiles);
  ASSERT_TRUE(PackageStateFromDpkgStatus("purge ok not-installed", &s));
  EXPECT_EQ(s, PackageState::kNotInstalled);
}

TEST(DpkgStatusWord, RejectsMalformed) {
  PackageState s;
  EXPECT_FALSE(PackageStateFromDpkgStatus("", &s));
  EXPECT_FALSE(PackageStateFromDpkgStatus("installed", &s));
  EXPECT_FALSE(PackageStateFromDpkgStatus("install ok", &s));
  EXPECT_FALSE(PackageStateFromDpkgStatus("install ok installed extra", &s));
  EXPECT_FALSE(PackageStateFromDpkgStatus("install ok sideways", &s));
}

constexpr std::string_view kStatus =
    "Package: kesl\n"
    "Status: hold ok installed\n"
    "Priority: optional\n"
    "Maintainer: Example <pkg@example.invalid>\n"
    "Architecture: amd64\n"
    "Version: 12.1.0.1234\n"
    "Conffiles:\n"
    " /etc/opt/kaspersky/kesl.conf 0123456789abcdef0123456789abcdef\n"
    "Description: test package\n"
    " with a second line: that is not a field\n"
    "\n"
    "Package: klnagent64\n"
    "Status: deinstall ok config-files\n"
    "Version: 15.1.0.20748\n"
    "\n"
    "Package: kess\n"
    "Status: install ok half-configured\n"
    "Version: 3.3.0.1\n";

TEST(DpkgStatusParser, ParsesStanzasAndIgnoresContinuations) {
  std::vector<std::string> warnings;
  const auto records = ParseDpkgStatus(kStatus, &warnings);
  EXPECT_TRUE(warnings.empty()) << warnings.front();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].package, "kesl");
  EXPECT_EQ(records[0].version, "12.1.0.1234");
  EXPECT_EQ(records[0].architecture, "amd64");
  EXPECT_EQ(records[0].maintainer, "Example <pkg@example.invalid>");
  EXPECT_EQ(records[0].state, PackageState::kInstalled);
  EXPECT_EQ(records[1].package, "klnagent64");
  EXPECT_EQ(records[1].state, PackageState::kConfigFiles);
  EXPECT_EQ(records[2].state, PackageState::kBroken);
  EXPECT_EQ(records[2].line, 16);
}

TEST(DpkgStatusParser, SameResultWhateverTheChunking) {
  for (size_t chunk = 1; chunk < 40; ++chunk) {
    DpkgStatusParser parser;
    for (size_t i = 0; i < kStatus.size(); i += chunk) parser.Feed(kStatus.substr(i, chunk));
    const auto records = parser.Finish();
    ASSERT_EQ(records.size(), 3u) << "chunk " << chunk;
    EXPECT_EQ(records[2].version, "3.3.0.1") << "chunk " << chunk;
  }
}

TEST(DpkgStatusParser, CrlfAndFieldCaseAreTolerated) {
  const auto records = ParseDpkgStatus("package: kesl\r\nSTATUS: install ok installed\r\nversion: 1\r\n\r\n", nullptr);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].package, "kesl");
  EXPECT_EQ(records[0].version, "1");
  EXPECT_EQ(records[0].state, PackageState::kInstalled);
}

TEST(DpkgStatusParser, BadStanzasWarnWithLineNumbers) {
  std::vector<std::string> warnings;
  const auto records = ParseDpkgStatus(
      "Status: install ok installed\n\n"      // no Package
      "Package: a\nStatus: bogus\n\n"          // bad status
      "garbage line without colon\n"
      "Package: b\nStatus: install ok installed\n",
      &warnings);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].package, "a");
  EXPECT_EQ(records[0].state, PackageState::kNotInstalled);
  EXPECT_EQ(records[1].package, "b");
  EXPECT_EQ(records[1].state, PackageState::kInstalled);
  ASSERT_EQ(warnings.size(), 3u);
  EXPECT_NE(warnings[0].find("line 1"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[1].find("unknown Status 'bogus'"), std::string::npos) << warnings[1];
  EXPECT_NE(warnings[2].find("line 6"), std::string::npos) << warnings[2];
}

TEST(DpkgStatusParser, OverlongLineIsSkippedNotBuffered) {
  std::string text = "Package: a\nStatus: install ok installed\nDescription: ";
  text += std::string(DpkgStatusParser::kMaxLine * 3, 'x');
  text += "\nVersion: 2\n";
  std::vector<std::string> warnings;
  const auto records = ParseDpkgStatus(text, &warnings);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].version, "2");
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("line 3"), std::string::npos) << warnings[0];
}

TEST(DpkgStatusParser, GarbageNeverCrashes) {
  std::string garbage;
  uint32_t x = 12345;
  for (int i = 0; i < 200000; ++i) {
    x = x * 1103515245u + 12345u;
    garbage.push_back(static_cast<char>(x >> 24));
  }
  std::vector<std::string> warnings;
  (void)ParseDpkgStatus(garbage, &warnings);
  EXPECT_LE(warnings.size(), 21u);  // capped, with a "more problems" line
}

TEST(DpkgStatusParser, TruncatedLastStanzaStillCounts) {
  const auto records = ParseDpkgStatus("Package: kesl\nStatus: install ok installed\nVersion: 12", nullptr);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].version, "12");
}

}  // namespace
}  // namespace ksweep::agent
