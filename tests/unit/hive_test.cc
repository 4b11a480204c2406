// agent/windows/hive.h over hives hivexregedit wrote (and make_hive.py reshaped as Windows writes them): lookups without case, values as UTF-8, names in Latin-1 and
// UTF-16, the control set through Select\Current, and every kind of damage refused with the file and the reason.
#include "agent/windows/hive.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "agent/windows/registry_path.h"
#include "tests/integration/test_util.h"
#include "tests/integration/windows_fixture.h"

namespace ksweep::agent {
namespace {

using test::HiveSpec;
using test::RegValue;

constexpr std::string_view kAll[] = {"DisplayName", "DisplayVersion", "ImagePath", "Start", "Max", "Name", "Small"};

class HiveTest : public ::testing::Test {
 protected:
  // A hive at `inside` under the root (a Windows root: the SOFTWARE marker is written first).
  void Write(const std::string& inside, const HiveSpec& spec) { test::WriteHive(dir_.path() + inside, spec); }

  std::unique_ptr<Hive> MustOpen(const std::string& inside) {
    const Root root(dir_.path());
    auto hive = Hive::Open(root, inside);
    EXPECT_TRUE(hive.ok()) << hive.status().message();
    return hive.ok() ? std::move(*hive) : nullptr;
  }

  Status OpenError(const std::string& inside) {
    const Root root(dir_.path());
    auto hive = Hive::Open(root, inside);
    return hive.ok() ? Status::Ok() : hive.status();
  }

  HiveKey MustFind(Hive& hive, std::string_view path) {
    auto key = hive.Find(hive.root(), path);
    EXPECT_TRUE(key.ok()) << key.status().message();
    EXPECT_TRUE(key.ok() && key->has_value()) << path;
    return key.ok() && *key ? **key : HiveKey{};
  }

  test::TempDir dir_{"hive"};
};

HiveSpec Software() {
  HiveSpec spec;
  spec.Key("Microsoft\\Windows\\CurrentVersion\\Uninstall\\{6C2E1F04-9ED4-4D1A-A2B1-3E1A38AE31B1}",
           {RegValue::Sz("DisplayName", "Kaspersky Endpoint Security for Windows"),
            RegValue::Sz("DisplayVersion", "11.11.0.452"), RegValue::Dword("Max", 0xFFFFFFFF)});
  spec.Key("Microsoft\\Windows\\CurrentVersion\\Uninstall\\Other", {RegValue::Sz("DisplayName", "Other")});
  spec.Key("KasperskyLab\\protected\\AVP21.3\\environment",
           {RegValue::ExpandSz("ImagePath", "%ProgramFiles%\\Kaspersky Lab\\avp.exe"),
            RegValue::Dword("Start", 2)});
  return spec;
}

TEST_F(HiveTest, KeysAreFoundWithoutCaseAndKeepTheirStoredNames) {
  Write("/Windows/System32/config/SOFTWARE", Software());
  auto hive = MustOpen("/windows/system32/CONFIG/software");
  ASSERT_NE(hive, nullptr);
  EXPECT_EQ(hive->file(), "/windows/system32/CONFIG/software");
  const HiveKey uninstall = MustFind(*hive, "MICROSOFT\\windows\\currentversion\\UNINSTALL");
  EXPECT_EQ(uninstall.path, "\\Microsoft\\Windows\\CurrentVersion\\Uninstall");
  auto children = hive->Children(uninstall);
  ASSERT_TRUE(children.ok()) << children.status().message();
  // In the order the hive lists them (Windows sorts subkeys by upper-cased name: '{' after 'O').
  ASSERT_EQ(children->size(), 2u);
  EXPECT_EQ((*children)[0].path, "\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\Other");
  EXPECT_EQ((*children)[1].name, "{6C2E1F04-9ED4-4D1A-A2B1-3E1A38AE31B1}");

  auto absent = hive->Find(hive->root(), "Microsoft\\Windows\\Nothing\\Here");
  ASSERT_TRUE(absent.ok()) << absent.status().message();
  EXPECT_FALSE(absent->has_value());
}

TEST_F(HiveTest, ValuesAreStringsExpandStringsAndDwordsByNameWithoutCase) {
  Write("/Windows/System32/config/SOFTWARE", Software());
  auto hive = MustOpen("/Windows/System32/config/SOFTWARE");
  ASSERT_NE(hive, nullptr);
  auto values = hive->Values(MustFind(*hive, "Microsoft\\Windows\\CurrentVersion\\Uninstall\\"
                                             "{6C2E1F04-9ED4-4D1A-A2B1-3E1A38AE31B1}"),
                             kAll);
  ASSERT_TRUE(values.ok()) << values.status().message();
  EXPECT_EQ(values->String("displayname"), "Kaspersky Endpoint Security for Windows");
  EXPECT_EQ(values->String("DisplayVersion"), "11.11.0.452");
  EXPECT_EQ(values->Dword("MAX"), 0xFFFFFFFFu);
  EXPECT_EQ(values->String("Max"), std::nullopt);  // a DWORD is not a string
  EXPECT_EQ(values->String("Publisher"), std::nullopt);

  auto env = hive->Values(MustFind(*hive, "KasperskyLab\\protected\\AVP21.3\\environment"), kAll);
  ASSERT_TRUE(env.ok()) << env.status().message();
  EXPECT_EQ(env->String("ImagePath"), "%ProgramFiles%\\Kaspersky Lab\\avp.exe");  // REG_EXPAND_SZ, unexpanded
  EXPECT_EQ(env->Dword("Start"), 2u);

  // Only the names asked for are read.
  constexpr std::string_view kOnlyStart[] = {"Start"};
  auto only = hive->Values(MustFind(*hive, "KasperskyLab\\protected\\AVP21.3\\environment"), kOnlyStart);
  ASSERT_TRUE(only.ok());
  EXPECT_EQ(only->String("ImagePath"), std::nullopt);
}

// Names hivex stores as Latin-1 ("compressed") and as UTF-16, and a UTF-16 value.
TEST_F(HiveTest, Latin1AndUtf16NamesAndValuesComeOutAsUtf8) {
  HiveSpec spec;
  spec.Key("Société Générale", {RegValue::Sz("Name", "Лаборатория Касперского ✓")});
  spec.Key("Касперский");
  Write("/Windows/System32/config/SOFTWARE", spec);
  auto hive = MustOpen("/Windows/System32/config/SOFTWARE");
  ASSERT_NE(hive, nullptr);
  auto children = hive->Children(hive->root());
  ASSERT_TRUE(children.ok()) << children.status().message();
  std::vector<std::string> names;
  for (const auto& c : *children) names.push_back(c.name);
  EXPECT_EQ(names, (std::vector<std::string>{"Société Générale", "Касперский"}));
  auto values = hive->Values(MustFind(*hive, "société générale"), kAll);
  ASSERT_TRUE(values.ok()) << values.status().message();
  EXPECT_EQ(values->String("Name"), "Лаборатория Касперского ✓");
}

// What Windows writes and hivex does not: a large key's subkeys in an index (ri) of lists, and data over 16344 bytes
// in big-data segments (db). make_hive.py rewrites a hivex-written hive into those forms (and hivex reads them back).
TEST_F(HiveTest, IndexRootsAndBigDataAreReadAsWindowsWritesThem) {
  const std::string inside = "/Windows/System32/config/SOFTWARE";
  HiveSpec spec;
  const std::string big(20000, 'K');
  spec.Key("Big", {RegValue::Sz("Name", big), RegValue::Sz("Small", "s")});
  for (int i = 0; i < 9; ++i) spec.Key("Big\\Sub" + std::to_string(i));
  Write(inside, spec);
  test::MakeHiveIndex(dir_.path() + inside, "Big");
  test::MakeHiveBigData(dir_.path() + inside, "Big", "Name");
  auto hive = MustOpen(inside);
  ASSERT_NE(hive, nullptr);
  const HiveKey key = MustFind(*hive, "big");
  auto children = hive->Children(key);
  ASSERT_TRUE(children.ok()) << children.status().message();
  ASSERT_EQ(children->size(), 9u);
  EXPECT_EQ(children->front().name, "Sub0");
  EXPECT_EQ(children->back().name, "Sub8");
  auto values = hive->Values(key, kAll);
  ASSERT_TRUE(values.ok()) << values.status().message();
  EXPECT_EQ(values->String("Name"), big);
  EXPECT_EQ(values->String("Small"), "s");
}

// The reader against hivex's own export of the same hive: the same keys, none missed, none invented.
TEST_F(HiveTest, EveryKeyHivexExportsIsReadAndNoOther) {
  const std::string inside = "/Windows/System32/config/SOFTWARE";
  HiveSpec spec = Software();
  for (int i = 0; i < 300; ++i) spec.Key("Classes\\CLSID\\Group" + std::to_string(i % 7) + "\\Class" + std::to_string(i));
  Write(inside, spec);
  const test::ProcessResult r = test::RunProcess({"hivexregedit", "--export", dir_.path() + inside, "\\"});
  ASSERT_TRUE(r.Exited(0)) << r.Describe();
  std::set<std::string> exported;
  for (size_t at = r.out.find("\n["); at != std::string::npos; at = r.out.find("\n[", at + 1)) {
    const size_t end = r.out.find("]\n", at);
    const std::string path = r.out.substr(at + 2, end - at - 2);
    if (path != "\\") exported.insert(path);
  }
  auto hive = MustOpen(inside);
  ASSERT_NE(hive, nullptr);
  std::set<std::string> read;
  std::vector<HiveKey> pending = {hive->root()};
  while (!pending.empty()) {
    const HiveKey key = pending.back();
    pending.pop_back();
    auto children = hive->Children(key);
    ASSERT_TRUE(children.ok()) << children.status().message();
    for (auto& child : *children) {
      read.insert(child.path);
      pending.push_back(std::move(child));
    }
  }
  EXPECT_GT(read.size(), 300u);
  EXPECT_EQ(read, exported);
}

TEST_F(HiveTest, CurrentControlSetIsTheOneSelectCurrentNames) {
  HiveSpec spec;
  spec.Key("Select", {RegValue::Dword("Current", 2)});
  spec.Key("ControlSet001\\Services\\Old");
  spec.Key("ControlSet002\\Services\\New");
  Write("/Windows/System32/config/SOFTWARE", HiveSpec().Key("Microsoft"));
  Write("/Windows/System32/config/SYSTEM", spec);
  auto hive = MustOpen("/Windows/System32/config/SYSTEM");
  ASSERT_NE(hive, nullptr);
  auto cs = CurrentControlSet(*hive);
  ASSERT_TRUE(cs.ok()) << cs.status().message();
  EXPECT_EQ(cs->name, "ControlSet002");
  auto services = hive->Find(*cs, "Services\\new");
  ASSERT_TRUE(services.ok() && services->has_value());
}

TEST_F(HiveTest, AMissingOrDanglingControlSetIsAnErrorNamingTheFile) {
  Write("/Windows/System32/config/SOFTWARE", HiveSpec().Key("Microsoft"));
  for (const auto& [spec, reason] :
       std::vector<std::pair<HiveSpec, std::string>>{
           {HiveSpec().Key("ControlSet001"), "no Select key"},
           {HiveSpec().Key("Select", {RegValue::Dword("Default", 1)}).Key("ControlSet001"),
            "Select\\Current is missing"},
           {HiveSpec().Key("Select", {RegValue::Dword("Current", 7)}).Key("ControlSet001"),
            "names ControlSet007, which is absent"}}) {
    Write("/Windows/System32/config/SYSTEM", spec);
    auto hive = MustOpen("/Windows/System32/config/SYSTEM");
    ASSERT_NE(hive, nullptr);
    auto cs = CurrentControlSet(*hive);
    ASSERT_FALSE(cs.ok()) << reason;
    EXPECT_NE(cs.status().message().find("/Windows/System32/config/SYSTEM: "), std::string::npos)
        << cs.status().message();
    EXPECT_NE(cs.status().message().find(reason), std::string::npos) << cs.status().message();
  }
}

TEST_F(HiveTest, DamagedFilesAreRefusedWithTheFileAndTheReason) {
  const std::string inside = "/Windows/System32/config/SOFTWARE";
  const std::string file = dir_.path() + inside;
  Write(inside, Software());
  const std::string good = test::ReadFile(file);
  ASSERT_GT(good.size(), 8192u);

  struct Case {
    std::string name;
    std::string bytes;
    std::string reason;
  };
  std::string bad_magic = good;
  bad_magic.replace(0, 4, "RGEF");
  std::string bad_sum = good;
  bad_sum[0x30] ^= 0x55;  // the file name field, covered by the checksum
  std::string bad_bins = good;
  bad_bins[0x1000 + 1] = 'X';  // "hXin": the first hive bin's magic
  const std::vector<Case> cases = {
      {"zero-length", "", "empty file (0 bytes), not a registry hive"},
      {"short", good.substr(0, 100), "truncated: 100 bytes"},
      {"truncated", good.substr(0, good.size() - 4096), "truncated: the base block declares"},
      {"wrong magic", bad_magic, "not a registry hive: starts with 'RGEF', not 'regf'"},
      {"bad checksum", bad_sum, "corrupt base block: checksum"},
      {"bad hive bin", bad_bins, "corrupt hive bins: no hive bin header after the base block"},
  };
  for (const auto& c : cases) {
    test::WriteFile(file, c.bytes);
    const Status st = OpenError(inside);
    ASSERT_FALSE(st.ok()) << c.name;
    EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << c.name;
    EXPECT_EQ(st.message().rfind(inside + ": ", 0), 0u) << c.name << ": " << st.message();
    EXPECT_NE(st.message().find(c.reason), std::string::npos) << c.name << ": " << st.message();
  }

  std::filesystem::remove(file);
  EXPECT_EQ(OpenError(inside).code(), Status::Code::kNotFound);
  std::filesystem::create_directory(file);
  EXPECT_NE(OpenError(inside).message().find("not a regular file"), std::string::npos);
}

TEST_F(HiveTest, ASubkeyListPointingBackUpIsACycleNotALoop) {
  const std::string inside = "/Windows/System32/config/SOFTWARE";
  Write(inside, Software());
  test::MakeHiveCycle(dir_.path() + inside, "Microsoft\\Windows\\CurrentVersion\\Uninstall");
  auto hive = MustOpen(inside);
  ASSERT_NE(hive, nullptr);
  const HiveKey uninstall = MustFind(*hive, "Microsoft\\Windows\\CurrentVersion\\Uninstall");
  auto children = hive->Children(uninstall);
  ASSERT_FALSE(children.ok());
  const std::string& message = children.status().message();
  EXPECT_EQ(message.rfind(inside + ": key \\Microsoft\\Windows\\CurrentVersion\\Uninstall: lists the key at 0x", 0), 0u)
      << message;
  EXPECT_NE(message.find("which is itself or one of its parents, as a subkey (cyclic offsets)"), std::string::npos)
      << message;
}

// Walks everything under `key` the way the probes do: subkeys, then the values asked for.
void WalkAll(Hive& hive, const HiveKey& key, int* keys) {
  ++*keys;
  (void)hive.Values(key, kAll);
  auto children = hive.Children(key);
  if (!children.ok()) return;
  for (const auto& child : *children) WalkAll(hive, child, keys);
}

// Damage anywhere in the hive bins: every 32-bit word in turn set to values that make offsets, sizes and counts point
// elsewhere. Each damaged hive opens or is refused, and walks to the end.
TEST_F(HiveTest, EveryDamagedWordIsSurvived) {
  const std::string inside = "/Windows/System32/config/SOFTWARE";
  const std::string file = dir_.path() + inside;
  Write(inside, Software());
  const std::string good = test::ReadFile(file);
  int opened = 0;
  int refused = 0;
  // Rewritten in place: truncating and writing the file thousands of times costs ext4 a flush each time.
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f);
  const Root root(dir_.path());
  for (size_t at = 4096; at + 4 <= good.size(); at += 4) {
    for (const uint32_t v : {0x00000000u, 0xFFFFFFFFu, 0x00000020u, 0x7FFFFFF0u}) {
      char word[4];
      for (int i = 0; i < 4; ++i) word[i] = static_cast<char>(v >> (8 * i));
      if (good.compare(at, 4, word, 4) == 0) continue;
      f.seekp(static_cast<std::streamoff>(at));
      f.write(word, 4);
      f.flush();
      ASSERT_TRUE(f);
      struct Restore {
        std::fstream& f;
        size_t at;
        const std::string& good;
        ~Restore() {
          f.seekp(static_cast<std::streamoff>(at));
          f.write(good.data() + at, 4);
          f.flush();
        }
      } restore{f, at, good};
      auto hive = Hive::Open(root, inside);
      if (!hive.ok()) {
        ++refused;
        EXPECT_EQ(hive.status().message().rfind(inside + ": ", 0), 0u) << hive.status().message();
        continue;
      }
      ++opened;
      int keys = 0;
      WalkAll(**hive, (*hive)->root(), &keys);
      EXPECT_LE(static_cast<size_t>(keys), kMaxHiveKeysVisited);
    }
  }
  // Both outcomes happen: the damage is real, and not all of it is fatal.
  EXPECT_GT(opened, 0);
  EXPECT_GT(refused, 0);
}

TEST(HiveBaseBlock, ChecksEachFieldItDependsOn) {
  std::string block(4096, '\0');
  auto put = [&block](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) block[at + static_cast<size_t>(i)] = static_cast<char>(v >> (8 * i));
  };
  auto seal = [&]() {
    uint32_t sum = 0;
    for (size_t at = 0; at < 0x1FC; at += 4) {
      uint32_t v = 0;
      for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(block[at + i])) << (8 * i);
      sum ^= v;
    }
    put(0x1FC, sum);
  };
  block.replace(0, 4, "regf");
  put(0x14, 1);
  put(0x18, 3);
  put(0x24, 0x20);
  put(0x28, 0x1000);
  seal();
  EXPECT_TRUE(CheckHiveBaseBlock(block, 8192).ok());
  EXPECT_NE(CheckHiveBaseBlock(block, 8191).message().find("truncated"), std::string::npos);
  put(0x28, 0x3000);
  seal();
  EXPECT_NE(CheckHiveBaseBlock(block, 8192).message().find("declares 12288 bytes of hive bins, the file holds 4096"),
            std::string::npos);
  put(0x28, 0x1001);
  seal();
  EXPECT_NE(CheckHiveBaseBlock(block, 8192).message().find("not a multiple of 4096"), std::string::npos);
  put(0x28, 0x1000);
  put(0x24, 0x1000);
  seal();
  EXPECT_NE(CheckHiveBaseBlock(block, 8192).message().find("root key offset 0x1000 lies outside"), std::string::npos);
  put(0x24, 0x20);
  put(0x14, 2);
  seal();
  EXPECT_NE(CheckHiveBaseBlock(block, 8192).message().find("version 2.3 is not supported"), std::string::npos);
}

}  // namespace
}  // namespace ksweep::agent
