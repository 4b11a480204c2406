// ParsePlist over property lists written by Python's plistlib (tests/fixtures/macos/make_macos_root.py plists), XML
// and binary, and over every truncation and many corruptions of them: the values must come out the same from both
// formats, and a bad file must give an error naming the file, never a crash, a hang or unbounded memory.
#include "agent/plist.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>

#include "agent/plist_bounds.h"
#include "tests/integration/test_util.h"

namespace ksweep::agent {
namespace {

using test::ReadFile;
using test::RunOptions;
using test::RunProcess;
using test::SourcePath;
using test::TempDir;

constexpr std::string_view kName = "/Library/LaunchDaemons/test.plist";

class PlistTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<TempDir>("plists");
    const auto r = RunProcess({"python3", SourcePath("tests/fixtures/macos/make_macos_root.py"), "plists", dir_->path()},
                              RunOptions::WithDeadline(std::chrono::minutes(1)));
    error_ = r.Exited(0) ? "" : "make_macos_root.py plists: " + r.Describe();
  }
  static void TearDownTestSuite() { dir_.reset(); }
  void SetUp() override { ASSERT_EQ(error_, ""); }

  static std::string Bytes(const std::string& name) { return ReadFile(dir_->Sub(name)); }

  // Damaged bytes either are refused with an error naming the file (true), or parse into something every key of
  // which can be read (false).
  static bool RejectedOrWalked(const std::string& bytes) {
    auto plist = ParsePlist(bytes, kName);
    if (!plist.ok()) {
      EXPECT_EQ(plist.status().message().rfind(std::string(kName) + ": ", 0), 0u);
      return true;
    }
    const PlistNode top = plist->root();
    for (const auto& key : top.Keys()) (void)top.Get(key).AsString();
    return false;
  }

  // The error of parsing `bytes`, which must fail and name the file.
  static std::string ErrorOf(std::string_view bytes) {
    auto plist = ParsePlist(bytes, kName);
    EXPECT_FALSE(plist.ok());
    if (plist.ok()) return {};
    EXPECT_EQ(plist.status().code(), Status::Code::kInvalidArgument);
    EXPECT_EQ(plist.status().message().rfind(std::string(kName) + ": ", 0), 0u) << plist.status().message();
    return plist.status().message();
  }

  static std::unique_ptr<TempDir> dir_;
  static std::string error_;
};

std::unique_ptr<TempDir> PlistTest::dir_;
std::string PlistTest::error_;

TEST_F(PlistTest, XmlAndBinaryGiveTheSameValues) {
  for (const char* file : {"value.xml", "value.bin"}) {
    SCOPED_TRACE(file);
    auto plist = ParsePlist(Bytes(file), kName);
    ASSERT_TRUE(plist.ok()) << plist.status().message();
    EXPECT_EQ(plist->format(), std::string_view(file).ends_with(".bin") ? "binary" : "XML");
    const PlistNode top = plist->root();
    ASSERT_TRUE(top.is_dict());
    EXPECT_EQ(top.Get("CFBundleIdentifier").AsString(), "com.kaspersky.kav.gui");
    EXPECT_EQ(top.Get("CFBundleShortVersionString").AsString(), "21.0.22.463");
    EXPECT_EQ(top.Get("CFBundleName").AsString(), "Kaspersky Anti-Virus f\u00fcr Mac \u2713");
    const PlistNode args = top.Get("ProgramArguments");
    ASSERT_TRUE(args.is_array());
    EXPECT_EQ(args.size(), 2u);
    EXPECT_EQ(args.At(0).AsString(), "/Library/Application Support/Kaspersky Lab/KAV/Binaries/kav");
    EXPECT_EQ(args.At(1).AsString(), "-d");
    EXPECT_FALSE(args.At(2).exists());
    EXPECT_EQ(top.Get("RunAtLoad").AsBool(), true);
    EXPECT_EQ(top.Get("Disabled").AsBool(), false);
    EXPECT_EQ(top.Get("Count").AsUnsigned(), 42u);
    // plistlib writes a naive datetime as UTC: 2021-03-04T10:20:30Z.
    EXPECT_EQ(top.Get("InstallDate").AsUnixTime(), 1614853230);
    EXPECT_EQ(top.Get("System").Get("System").Get("ComputerName").AsString(), "Anna's MacBook Pro");
    EXPECT_EQ(top.Get("System").Get("Network").Get("HostNames").size(), 0u);
    // The binary writer stores "same" once and refers to it three times.
    for (size_t i = 0; i < 3; ++i) EXPECT_EQ(top.Get("Shared").At(i).AsString(), "same");
    // plistlib sorts keys; libplist keeps the file's order.
    const std::vector<std::string> keys = {"Blob",        "CFBundleIdentifier", "CFBundleName",
                                           "CFBundleShortVersionString", "Count", "Disabled",
                                           "InstallDate", "ProgramArguments", "RunAtLoad", "Shared", "System"};
    EXPECT_EQ(top.Keys(), keys);
    EXPECT_EQ(top.size(), keys.size());
  }
}

TEST_F(PlistTest, AccessorsOfTheWrongKindAnswerNothing) {
  auto plist = ParsePlist(Bytes("value.bin"), kName);
  ASSERT_TRUE(plist.ok()) << plist.status().message();
  const PlistNode top = plist->root();
  EXPECT_EQ(top.Get("Count").AsString(), std::nullopt);
  EXPECT_EQ(top.Get("CFBundleIdentifier").AsUnsigned(), std::nullopt);
  EXPECT_EQ(top.Get("CFBundleIdentifier").AsUnixTime(), std::nullopt);
  EXPECT_EQ(top.Get("Blob").AsString(), std::nullopt);
  EXPECT_FALSE(top.Get("CFBundleIdentifier").Get("x").exists());
  EXPECT_FALSE(top.At(0).exists());
  EXPECT_FALSE(top.Get("ProgramArguments").Get("0").exists());
  EXPECT_EQ(top.Get("missing").Get("deeper").At(3).AsString(), std::nullopt);
  EXPECT_TRUE(top.Get("missing").Keys().empty());
  EXPECT_EQ(PlistNode().size(), 0u);
}

TEST_F(PlistTest, XmlWithBomAndLeadingSpaceParses) {
  auto plist = ParsePlist("\xEF\xBB\xBF\n  " + Bytes("value.xml"), kName);
  ASSERT_TRUE(plist.ok()) << plist.status().message();
  EXPECT_EQ(plist->root().Get("Count").AsUnsigned(), 42u);
}

TEST_F(PlistTest, EmptyAndWrongMagicAreNamed) {
  EXPECT_NE(ErrorOf("").find("empty file"), std::string::npos);
  EXPECT_NE(ErrorOf("\x89PNG\r\n\x1a\n").find("not a property list: starts with 89 50 4e 47"), std::string::npos);
  EXPECT_NE(ErrorOf("{ Label = x; }").find("not a property list"), std::string::npos);
  EXPECT_NE(ErrorOf("   \n").find("not a property list"), std::string::npos);
  std::string v1 = Bytes("value.bin");
  v1[7] = '1';
  EXPECT_NE(ErrorOf(v1).find("version 'bplist01'"), std::string::npos) << ErrorOf(v1);
  EXPECT_NE(ErrorOf(std::string("\xFF\xFE<\0?\0x\0", 8)).find("UTF-16"), std::string::npos);
  EXPECT_NE(ErrorOf("<?xml version=\"1.0\"?><plist><dict><key>a</key>").find("malformed XML"), std::string::npos);
}

TEST_F(PlistTest, EveryTruncationOfABinaryPlistIsAnError) {
  const std::string full = Bytes("value.bin");
  ASSERT_TRUE(ParsePlist(full, kName).ok());
  for (size_t n = 1; n < full.size(); ++n) {
    SCOPED_TRACE(n);
    const std::string error = ErrorOf(std::string_view(full).substr(0, n));
    // The trailer is the last 32 bytes: a cut file has something else there.
    EXPECT_TRUE(error.find("truncated") != std::string::npos || error.find("corrupt") != std::string::npos) << error;
  }
  EXPECT_NE(ErrorOf("bplist00").find("binary plist truncated: 8 bytes"), std::string::npos);
}

TEST_F(PlistTest, EveryTruncationOfAnXmlPlistIsAnErrorOrTheWholeValue) {
  const std::string full = Bytes("value.xml");
  // libplist takes a file that ends after its top </dict>, without </plist>.
  const size_t end = full.rfind("</dict>") + std::string_view("</dict>").size();
  ASSERT_LT(end, full.size());
  for (size_t n = 1; n <= full.size(); ++n) {
    SCOPED_TRACE(n);
    auto plist = ParsePlist(std::string_view(full).substr(0, n), kName);
    if (n < end) {
      EXPECT_FALSE(plist.ok());
    } else if (plist.ok()) {
      EXPECT_EQ(plist->root().Get("Count").AsUnsigned(), 42u);
    }
  }
}

// Every byte of a binary plist replaced by a few values: whatever the damage, an answer and no crash (run under
// AddressSanitizer too). Deterministic: a fixed seed.
TEST_F(PlistTest, CorruptedBinaryPlistsNeverCrash) {
  const std::string full = Bytes("value.bin");
  std::mt19937 random(20241006);
  int rejected = 0;
  for (size_t at = 0; at < full.size(); ++at) {
    const unsigned char values[] = {0x00, 0xff, 0x0f, 0xaf, 0xdf, static_cast<unsigned char>(random() & 0xff)};
    for (const unsigned char value : values) {
      std::string bytes = full;
      bytes[at] = static_cast<char>(value);
      if (RejectedOrWalked(bytes)) ++rejected;
    }
  }
  EXPECT_GT(rejected, 0);
}

// The same for XML, with the characters its syntax turns on.
TEST_F(PlistTest, CorruptedXmlPlistsNeverCrash) {
  const std::string full = Bytes("value.xml");
  int rejected = 0;
  for (size_t at = 0; at < full.size(); ++at) {
    for (const char value : {'<', '>', '&', '/', '!', '\0'}) {
      std::string bytes = full;
      bytes[at] = value;
      if (RejectedOrWalked(bytes)) ++rejected;
    }
  }
  EXPECT_GT(rejected, 0);
}

TEST_F(PlistTest, CyclicOffsetsAreRefused) {
  for (const char* file : {"cyclic.bin", "self.bin"}) {
    SCOPED_TRACE(file);
    const std::string error = ErrorOf(Bytes(file));
    EXPECT_NE(error.find("cyclic offsets"), std::string::npos) << error;
  }
}

TEST_F(PlistTest, SharedObjectsThatExpandBeyondTheBoundAreRefused) {
  const std::string bomb = Bytes("bomb.bin");
  EXPECT_LT(bomb.size(), 1024u);  // a few hundred bytes that libplist would copy into 2^40 values
  const std::string error = ErrorOf(bomb);
  EXPECT_NE(error.find("expands to more than 100000 values"), std::string::npos) << error;
}

TEST_F(PlistTest, NestingIsBounded) {
  for (const char* file : {"deep-ok.bin", "deep-ok.xml"}) {
    SCOPED_TRACE(file);
    auto plist = ParsePlist(Bytes(file), kName);
    ASSERT_TRUE(plist.ok()) << plist.status().message();
    PlistNode n = plist->root();
    for (int i = 0; i < 60; ++i) n = n.At(0);
    EXPECT_EQ(n.AsString(), "deep");
  }
  for (const char* file : {"deep.bin", "deep.xml"}) {
    SCOPED_TRACE(file);
    const std::string error = ErrorOf(Bytes(file));
    EXPECT_NE(error.find("nests deeper than 64 levels"), std::string::npos) << error;
  }
}

TEST_F(PlistTest, SizeAndCountAreBounded) {
  EXPECT_NE(ErrorOf(Bytes("wide.xml")).find("more than 100000 elements"), std::string::npos);
  EXPECT_NE(ErrorOf(Bytes("wide.bin")).find("holds 120001 objects"), std::string::npos) << ErrorOf(Bytes("wide.bin"));
  EXPECT_NE(ErrorOf(std::string(kMaxPlistBytes + 1, '<')).find("more than the 4194304"), std::string::npos);
}

}  // namespace
}  // namespace ksweep::agent
