// The PE version-resource parser over images windres and ld made (tests/fixtures/windows/make_pe.sh), intact and
// damaged at every byte: it reads what Explorer shows, refuses what is malformed with a reason, reads only small
// pieces of a file, and never crashes or loops.
#include "agent/probes/pe_version.h"

#include <gtest/gtest.h>

#include <memory>

#include "tests/integration/test_util.h"
#include "tests/integration/windows_fixture.h"

namespace ksweep::agent {
namespace {

using test::PeImage;

uint32_t Le32(const std::string& b, size_t at) {
  return static_cast<uint32_t>(static_cast<unsigned char>(b[at])) |
         static_cast<uint32_t>(static_cast<unsigned char>(b[at + 1])) << 8 |
         static_cast<uint32_t>(static_cast<unsigned char>(b[at + 2])) << 16 |
         static_cast<uint32_t>(static_cast<unsigned char>(b[at + 3])) << 24;
}

void PutLe16(std::string* b, size_t at, uint16_t v) {
  (*b)[at] = static_cast<char>(v & 0xFF);
  (*b)[at + 1] = static_cast<char>(v >> 8);
}

// Where `text` (ASCII) stands as UTF-16LE in `image`.
size_t FindUtf16(const std::string& image, std::string_view text) {
  std::string wide;
  for (char c : text) {
    wide.push_back(c);
    wide.push_back('\0');
  }
  return image.find(wide);
}

class PeVersionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<test::TempDir>("pe");
    try {
      test::WritePeImage(dir_->Sub("klif.sys"), {"AO Kaspersky Lab", "21.3.10.391", "Klif Mini-Filter",
                                                 "Kaspersky Endpoint Security for Windows"});
      test::WritePeImage(dir_->Sub("klnagent.exe"),
                         {"AO Kaspersky Lab", "14.0.0.10902", "Network Agent",
                          "Kaspersky Security Center Network Agent", /*pe32=*/true});
      test::WritePeImage(dir_->Sub("unicode.sys"),
                         {"АО «Лаборатория Касперского»", "11.11.0.452", "Société Générale 🛡", "Продукт"});
    } catch (const std::exception& e) {
      build_error_ = e.what();
    }
  }
  static void TearDownTestSuite() { dir_.reset(); }
  void SetUp() override { ASSERT_EQ(build_error_, ""); }

  static std::string Image(const std::string& name) { return test::ReadFile(dir_->Sub(name)); }

  static std::unique_ptr<test::TempDir> dir_;
  static std::string build_error_;
};

std::unique_ptr<test::TempDir> PeVersionTest::dir_;
std::string PeVersionTest::build_error_;

TEST_F(PeVersionTest, ReadsTheStringsOfA64BitImage) {
  auto info = ParsePeVersion(Image("klif.sys"));
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_EQ(info->company_name, "AO Kaspersky Lab");
  EXPECT_EQ(info->file_version, "21.3.10.391");
  EXPECT_EQ(info->file_description, "Klif Mini-Filter");
  EXPECT_EQ(info->product_name, "Kaspersky Endpoint Security for Windows");
  EXPECT_EQ(info->product_version, "21.3.10.391");
}

TEST_F(PeVersionTest, ReadsA32BitImage) {
  auto info = ParsePeVersion(Image("klnagent.exe"));
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_EQ(info->company_name, "AO Kaspersky Lab");
  EXPECT_EQ(info->file_version, "14.0.0.10902");
  EXPECT_EQ(info->product_name, "Kaspersky Security Center Network Agent");
}

TEST_F(PeVersionTest, StringsAreUtf8WhateverTheScript) {
  auto info = ParsePeVersion(Image("unicode.sys"));
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_EQ(info->company_name, "АО «Лаборатория Касперского»");
  EXPECT_EQ(info->file_description, "Société Générale 🛡");  // a surrogate pair in UTF-16
  EXPECT_EQ(info->product_name, "Продукт");
}

TEST_F(PeVersionTest, WithoutTheFileVersionStringTheFixedVersionSpeaks) {
  std::string image = Image("klif.sys");
  // Rename the FileVersion string so the table no longer has one; VS_FIXEDFILEINFO still says 21.3.10.391.
  const size_t at = FindUtf16(image, "FileVersion");
  ASSERT_NE(at, std::string::npos);
  image[at] = 'X';
  auto info = ParsePeVersion(image);
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_EQ(info->file_version, "21.3.10.391");
  EXPECT_EQ(info->company_name, "AO Kaspersky Lab");
}

TEST_F(PeVersionTest, ReadsOnlySmallPiecesOfTheFile) {
  std::string image = Image("klif.sys");
  // A 40 MiB image: the parser must not read it whole.
  image.resize(40u << 20, '\0');
  size_t reads = 0;
  size_t bytes = 0;
  size_t largest = 0;
  auto info = ReadPeVersion(
      [&](uint64_t offset, size_t length) -> Result<std::string> {
        ++reads;
        bytes += length;
        largest = std::max(largest, length);
        if (offset >= image.size()) return std::string();
        return image.substr(offset, length);
      },
      image.size());
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_EQ(info->company_name, "AO Kaspersky Lab");
  EXPECT_LE(reads, 12u);
  EXPECT_LE(bytes, 4096u);
  EXPECT_LE(largest, kMaxVersionResourceBytes);
}

TEST_F(PeVersionTest, AnImageWithoutResourcesHasNoVersion) {
  std::string image = Image("klif.sys");
  // Zero the resource data directory (PE32+: optional header at e_lfanew + 24, directories at +112, #2).
  const size_t resource_dir = Le32(image, 0x3C) + 24 + 112 + 2 * 8;
  image.replace(resource_dir, 8, std::string(8, '\0'));
  auto info = ParsePeVersion(image);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), Status::Code::kNotFound) << info.status().message();
}

TEST_F(PeVersionTest, WhatIsNotAPeFileIsRefusedWithAReason) {
  for (const std::string& junk : {std::string(), std::string("MZ"), std::string(4096, 'A'),
                                  std::string("#!/bin/sh\necho not an image\n")}) {
    auto info = ParsePeVersion(junk);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(info.status().message().find("not a well-formed PE file"), std::string::npos)
        << info.status().message();
  }
}

TEST_F(PeVersionTest, EveryTruncationIsAnErrorNeverACrash) {
  const std::string image = Image("klif.sys");
  for (size_t n = 0; n < image.size(); ++n) {
    auto info = ParsePeVersion(std::string_view(image).substr(0, n));
    // Past the version resource, a cut only loses padding the parser never reads.
    if (info.ok()) {
      EXPECT_EQ(info->company_name, "AO Kaspersky Lab") << "cut at " << n;
    }
  }
}

TEST_F(PeVersionTest, EveryDamagedByteIsSurvived) {
  for (const char* name : {"klif.sys", "klnagent.exe"}) {
    const std::string image = Image(name);
    for (size_t at = 0; at < image.size(); ++at) {
      for (const unsigned char v : {0x00, 0xFF, 0x7F, 0x80}) {
        std::string damaged = image;
        damaged[at] = static_cast<char>(v);
        // Any answer will do, as long as there is one: no crash (ASan builds check the reads), no hang, and a
        // refusal says why.
        auto info = ParsePeVersion(damaged);
        EXPECT_TRUE(info.ok() || !info.status().message().empty()) << name << " byte " << at;
      }
    }
  }
}

TEST_F(PeVersionTest, NodeLengthsThatWouldLoopOrOverrunAreRefused) {
  const std::string image = Image("klif.sys");
  const size_t key = FindUtf16(image, "CompanyName");
  ASSERT_NE(key, std::string::npos);
  // A String node: wLength, wValueLength, wType, then its key.
  for (const uint16_t length : {uint16_t{0}, uint16_t{2}, uint16_t{0xFFFF}}) {
    std::string damaged = image;
    PutLe16(&damaged, key - 6, length);
    auto info = ParsePeVersion(damaged);
    ASSERT_FALSE(info.ok()) << "wLength " << length;
    EXPECT_NE(info.status().message().find("version resource"), std::string::npos) << info.status().message();
  }
}

TEST_F(PeVersionTest, ImplausibleCountsAreRefusedBeforeAnyRead) {
  std::string image = Image("klif.sys");
  const size_t pe = Le32(image, 0x3C);
  std::string many_sections = image;
  PutLe16(&many_sections, pe + 6, 0xFFFF);
  auto info = ParsePeVersion(many_sections);
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.status().message().find("65535 sections"), std::string::npos) << info.status().message();

  std::string far_header = image;
  far_header[0x3C + 3] = 0x7F;  // e_lfanew ~ 2 GiB
  info = ParsePeVersion(far_header);
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.status().message().find("implausible"), std::string::npos) << info.status().message();
}

}  // namespace
}  // namespace ksweep::agent
