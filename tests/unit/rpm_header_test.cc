// ParseRpmHeader over real headers (from an rpmdb.sqlite and a .rpm file made by the real rpm tools) and over
// crafted bytes for every check; truncations and corruptions of a real header must fail cleanly, never read outside.
#include "agent/probes/rpm_header.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "tests/fixtures/rpm/rpm_fixture.h"

namespace ksweep::agent {
namespace {

namespace fs = std::filesystem;

class RpmHeaderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string error;
    dir_ = new fs::path(test_fixtures::RpmFixtureDir(&error));
    ASSERT_FALSE(dir_->empty()) << error;

    blobs_ = new std::map<std::string, std::string>;
    const std::string db_path = (*dir_ / "sqlite-root/var/lib/rpm/rpmdb.sqlite").string();
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    // The Name index table maps names to header numbers independently of our parser.
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT n.key, p.blob FROM Packages p JOIN Name n ON n.hnum = p.hnum", -1, &stmt,
                                 nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      const auto* name = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      const auto* blob = static_cast<const char*>(sqlite3_column_blob(stmt, 1));
      (*blobs_)[name] = std::string(blob, static_cast<size_t>(sqlite3_column_bytes(stmt, 1)));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    ASSERT_EQ(blobs_->size(), 3u);
  }

  static void TearDownTestSuite() {
    delete dir_;
    delete blobs_;
    dir_ = nullptr;
    blobs_ = nullptr;
  }

  static const std::string& Blob(const std::string& name) { return blobs_->at(name); }
  static fs::path Dir() { return *dir_; }

 private:
  static fs::path* dir_;
  static std::map<std::string, std::string>* blobs_;
};

fs::path* RpmHeaderTest::dir_ = nullptr;
std::map<std::string, std::string>* RpmHeaderTest::blobs_ = nullptr;

// Reads a blob the way the sqlite reader does: a first piece, then longer prefixes while the parser asks.
Result<RpmHeaderView> ParseInPieces(const std::string& blob, size_t first, int* rounds) {
  size_t want = std::min(first, blob.size());
  *rounds = 0;
  while (true) {
    ++*rounds;
    size_t need = 0;
    auto h = ParseRpmHeaderPrefix(std::string_view(blob).substr(0, want), blob.size(), &need);
    if (need == 0) return h;
    EXPECT_GT(need, want);
    EXPECT_LE(need, blob.size());
    EXPECT_EQ(h.status().code(), Status::Code::kUnavailable);
    if (need <= want || need > blob.size()) return Status::Internal("bad need");
    want = need;
  }
}

TEST_F(RpmHeaderTest, ReadsInstalledHeaderFromRpmdbSqlite) {
  auto h = ParseRpmHeader(Blob("kesl"));
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->name, "kesl");
  EXPECT_EQ(h->version, "12.1.0");
  EXPECT_EQ(h->release, "1234");
  EXPECT_EQ(h->arch, "x86_64");
  EXPECT_EQ(h->vendor, "AO Kaspersky Lab");
  EXPECT_FALSE(h->epoch.has_value());
  EXPECT_EQ(RpmEvr(*h), "12.1.0-1234");
}

TEST_F(RpmHeaderTest, EpochAndMissingVendor) {
  auto h = ParseRpmHeader(Blob("ca-certificates"));
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->name, "ca-certificates");
  ASSERT_TRUE(h->epoch.has_value());
  EXPECT_EQ(*h->epoch, 1u);
  EXPECT_EQ(h->vendor, "");
  EXPECT_EQ(h->arch, "noarch");
  EXPECT_EQ(RpmEvr(*h), "1:2023.2.60-1.el9");
}

// A .rpm file: 96-byte lead, signature header (padded to 8 bytes), then the main header with its 8-byte magic.
TEST_F(RpmHeaderTest, ReadsHeaderCutFromRpmFileWithMagic) {
  std::ifstream in(Dir() / "rpms/x86_64/klnagent64-15.1.0-20748.x86_64.rpm", std::ios::binary);
  ASSERT_TRUE(in.good());
  const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto be32 = [&file](size_t at) {
    const auto* p = reinterpret_cast<const unsigned char*>(file.data() + at);
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
  };
  ASSERT_GT(file.size(), 96u + 16u);
  const size_t sig_size = 16 + 16 * size_t{be32(96 + 8)} + be32(96 + 12);
  const size_t main_at = 96 + ((sig_size + 7) / 8) * 8;
  ASSERT_LT(main_at + 16, file.size());
  const size_t main_size = 16 + 16 * size_t{be32(main_at + 8)} + be32(main_at + 12);
  ASSERT_LE(main_at + main_size, file.size());

  auto h = ParseRpmHeader(std::string_view(file).substr(main_at, main_size));
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->name, "klnagent64");
  EXPECT_EQ(RpmEvr(*h), "15.1.0-20748");
  EXPECT_EQ(h->vendor, "AO Kaspersky Lab");
}

TEST_F(RpmHeaderTest, EveryTruncationIsAnError) {
  const std::string& blob = Blob("kesl");
  for (size_t n = 0; n < blob.size(); ++n) {
    auto h = ParseRpmHeader(std::string_view(blob).substr(0, n));
    ASSERT_FALSE(h.ok()) << "prefix of " << n << " bytes parsed";
    EXPECT_EQ(h.status().code(), Status::Code::kInvalidArgument);
    EXPECT_EQ(h.status().message().rfind("rpm header: ", 0), 0u) << h.status().message();
  }
}

TEST_F(RpmHeaderTest, TrailingBytesAreAnError) {
  auto h = ParseRpmHeader(Blob("kesl") + std::string(4, '\0'));
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("the blob has"), std::string::npos) << h.status().message();
}

// Each byte replaced by a few values: the parse either fails with a message or returns views inside the blob.
TEST_F(RpmHeaderTest, CorruptedBytesNeverEscapeTheBlob) {
  const std::string& original = Blob("klnagent64");
  int failures = 0;
  for (size_t i = 0; i < original.size(); ++i) {
    for (const unsigned char v : {0x00, 0x01, 0x7f, 0x80, 0xff}) {
      std::string blob = original;
      blob[i] = static_cast<char>(v);
      auto h = ParseRpmHeader(blob);
      int rounds = 0;
      auto pieces = ParseInPieces(blob, 256, &rounds);
      ASSERT_EQ(pieces.ok(), h.ok()) << "byte " << i;
      if (!h.ok()) {
        EXPECT_EQ(pieces.status().message(), h.status().message()) << "byte " << i;
        ++failures;
        EXPECT_FALSE(h.status().message().empty());
        continue;
      }
      for (std::string_view s : {h->name, h->version, h->release, h->arch, h->vendor}) {
        if (s.empty()) continue;
        ASSERT_GE(s.data(), blob.data()) << "byte " << i;
        ASSERT_LE(s.data() + s.size(), blob.data() + blob.size()) << "byte " << i;
      }
    }
  }
  EXPECT_GT(failures, 0);  // the index count, data length and index entries are all checked
}

TEST_F(RpmHeaderTest, EveryPrefixEitherParsesOrAsksForMore) {
  const std::string& blob = Blob("kesl");
  const auto whole = ParseRpmHeader(blob);
  ASSERT_TRUE(whole.ok());
  for (size_t n = 0; n <= blob.size(); ++n) {
    size_t need = 0;
    auto h = ParseRpmHeaderPrefix(std::string_view(blob).substr(0, n), blob.size(), &need);
    if (h.ok()) {
      EXPECT_EQ(need, 0u);
      EXPECT_EQ(h->name, whole->name);
      EXPECT_EQ(h->version, whole->version);
      EXPECT_EQ(h->release, whole->release);
      EXPECT_EQ(h->arch, whole->arch);
      EXPECT_EQ(h->vendor, whole->vendor);
      EXPECT_EQ(h->epoch, whole->epoch);
    } else {
      ASSERT_EQ(h.status().code(), Status::Code::kUnavailable) << n << ": " << h.status().message();
      EXPECT_GT(need, n);
      EXPECT_LE(need, blob.size());
    }
  }
  // The fields sit before the file lists: the whole header is never needed.
  int rounds = 0;
  auto h = ParseInPieces(blob, 64, &rounds);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_LE(rounds, 3);
  size_t need = 0;
  EXPECT_FALSE(ParseRpmHeaderPrefix(blob, blob.size() - 1, &need).ok());  // a prefix longer than the blob
}

// klnagent64's 17 KB description comes before VENDOR and ARCH: a 4 KiB first read is not enough.
TEST_F(RpmHeaderTest, FieldsPastTheFirstPieceAreFetched) {
  const std::string& blob = Blob("klnagent64");
  ASSERT_GT(blob.size(), 16384u);
  size_t need = 0;
  auto first = ParseRpmHeaderPrefix(std::string_view(blob).substr(0, 4096), blob.size(), &need);
  EXPECT_FALSE(first.ok());
  EXPECT_GT(need, 4096u);
  int rounds = 0;
  auto h = ParseInPieces(blob, 4096, &rounds);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_GE(rounds, 2);
  EXPECT_EQ(h->vendor, "AO Kaspersky Lab");
  EXPECT_EQ(h->arch, "x86_64");
}

// --- crafted headers ---

struct Entry {
  uint32_t tag, type, offset, count;
};

void PutBe32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}

std::string Craft(const std::vector<Entry>& entries, const std::string& data, int64_t il = -1, int64_t dl = -1) {
  std::string blob;
  PutBe32(&blob, il >= 0 ? static_cast<uint32_t>(il) : static_cast<uint32_t>(entries.size()));
  PutBe32(&blob, dl >= 0 ? static_cast<uint32_t>(dl) : static_cast<uint32_t>(data.size()));
  for (const Entry& e : entries) {
    PutBe32(&blob, e.tag);
    PutBe32(&blob, e.type);
    PutBe32(&blob, e.offset);
    PutBe32(&blob, e.count);
  }
  return blob + data;
}

constexpr uint32_t kInt32 = 4;
constexpr uint32_t kString = 6;
constexpr uint32_t kI18n = 9;

// "kesl\0" at 0, "12.1\0" at 5, "1\0" at 10, int32 7 at 12: a minimal valid header.
const std::string kData = std::string("kesl\0" "12.1\0" "1\0", 12) + std::string("\0\0\0\7", 4);
std::vector<Entry> Minimal() {
  return {{kRpmTagName, kString, 0, 1}, {kRpmTagVersion, kString, 5, 1}, {kRpmTagRelease, kString, 10, 1}};
}

std::string ErrorOf(const std::string& blob) {
  auto h = ParseRpmHeader(blob);
  return h.ok() ? "parsed" : h.status().message();
}

TEST(RpmHeaderCrafted, MinimalHeaderParses) {
  auto entries = Minimal();
  entries.push_back({kRpmTagEpoch, kInt32, 12, 1});
  const std::string blob = Craft(entries, kData);  // the views point into it
  auto h = ParseRpmHeader(blob);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(RpmEvr(*h), "7:12.1-1");
  EXPECT_EQ(h->arch, "");
  EXPECT_TRUE(h->vendor.empty());
}

TEST(RpmHeaderCrafted, CountsAreChecked) {
  EXPECT_NE(ErrorOf(Craft({}, kData)).find("no index entries"), std::string::npos);
  EXPECT_NE(ErrorOf(Craft(Minimal(), kData, 0x10000)).find("index count 65536 is above rpm's limit"),
            std::string::npos);
  // Counts whose sizes would overflow 32-bit arithmetic.
  EXPECT_NE(ErrorOf(Craft(Minimal(), kData, 0xffffffff)).find("above rpm's limit"), std::string::npos);
  EXPECT_NE(ErrorOf(Craft(Minimal(), kData, -1, 0xffffffff)).find("data length 4294967295 is above"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Craft(Minimal(), kData, 4)).find("make"), std::string::npos);
  EXPECT_NE(ErrorOf(Craft(Minimal(), kData, -1, 15)).find("the blob has"), std::string::npos);
  EXPECT_NE(ErrorOf(std::string("\0\0\0", 3)).find("3 bytes, shorter than"), std::string::npos);
}

TEST(RpmHeaderCrafted, IndexEntriesAreChecked) {
  auto entries = Minimal();
  entries[1].offset = 17;  // data store is 16 bytes
  EXPECT_NE(ErrorOf(Craft(entries, kData)).find("points at offset 17, past the 16-byte data store"),
            std::string::npos);

  entries = Minimal();
  entries.push_back({5000, 10, 0, 1});
  EXPECT_NE(ErrorOf(Craft(entries, kData)).find("(tag 5000) has unknown type 10"), std::string::npos);

  entries = Minimal();
  entries.push_back({kRpmTagEpoch, kInt32, 2, 1});
  EXPECT_NE(ErrorOf(Craft(entries, kData)).find("offset 2 is not aligned to 4 bytes"), std::string::npos);
}

TEST(RpmHeaderCrafted, StringsAreChecked) {
  auto entries = Minimal();
  entries.erase(entries.begin());
  EXPECT_NE(ErrorOf(Craft(entries, kData)).find("no NAME (tag 1000)"), std::string::npos);

  entries = Minimal();
  entries[0].type = kInt32;
  EXPECT_NE(ErrorOf(Craft(entries, kData)).find("NAME (tag 1000) has type 4, want a string"), std::string::npos);

  entries = Minimal();
  entries[2].count = 2;
  EXPECT_NE(ErrorOf(Craft(entries, kData)).find("single string with a count of 2"), std::string::npos);

  entries = Minimal();
  entries[0].count = 0;
  EXPECT_NE(ErrorOf(Craft(entries, kData)).find("count of 0"), std::string::npos);

  // The last string runs to the end of the data store without its NUL.
  const std::string unterminated = std::string("kesl\0" "12.1\0" "1\0", 12) + "x86_";
  entries = Minimal();
  entries.push_back({kRpmTagArch, kString, 12, 1});
  EXPECT_NE(ErrorOf(Craft(entries, unterminated)).find("ARCH (tag 1022) at offset 12 has no NUL"),
            std::string::npos);

  entries = Minimal();
  entries[1].offset = 4;  // the NUL ending "kesl"
  EXPECT_NE(ErrorOf(Craft(entries, kData)).find("VERSION (tag 1001) is empty"), std::string::npos);

  entries = Minimal();
  entries[1].offset = 16;  // the very end: nothing to read
  EXPECT_NE(ErrorOf(Craft(entries, kData)).find("VERSION (tag 1001) at offset 16 has no NUL"), std::string::npos);
}

TEST(RpmHeaderCrafted, IntegersAreChecked) {
  auto entries = Minimal();
  entries.push_back({kRpmTagEpoch, kString, 0, 1});
  EXPECT_NE(ErrorOf(Craft(entries, kData)).find("EPOCH (tag 1003) has type 6, want int32"), std::string::npos);

  // Aligned, but only two bytes left.
  const std::string short_data = std::string("kesl\0" "12.1\0" "1\0", 12) + std::string("\0\0", 2);
  entries = Minimal();
  entries.push_back({kRpmTagEpoch, kInt32, 12, 1});
  EXPECT_NE(ErrorOf(Craft(entries, short_data)).find("EPOCH (tag 1003) at offset 12 runs past the end"),
            std::string::npos);
}

TEST(RpmHeaderCrafted, I18nVendorAndLaterDuplicateWins) {
  const std::string data = std::string("kesl\0" "12.1\0" "1\0" "Kaspersky\0" "Kasperski\0" "2\0", 34);
  auto entries = Minimal();
  entries.push_back({kRpmTagVendor, kI18n, 12, 2});
  entries.push_back({kRpmTagRelease, kString, 32, 1});  // a second RELEASE after the first: rpm's dribble entry
  const std::string blob = Craft(entries, data);
  auto h = ParseRpmHeader(blob);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->vendor, "Kaspersky");
  EXPECT_EQ(h->release, "2");
}

}  // namespace
}  // namespace ksweep::agent
