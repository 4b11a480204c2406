// common/atomic_file.h on real files: both temp-file policies replace the file whole with its exact mode and leave no
// temp file behind, and reads are bounded.
#include "common/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <set>

#include "tests/integration/test_util.h"

namespace ksweep {
namespace {

namespace fs = std::filesystem;

std::set<std::string> Names(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename().string());
  return names;
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

TEST(AtomicFile, FixedTempNameOverwritesALeftoverFromACrash) {
  test::TempDir dir("atomic-fixed");
  const std::string path = dir.Sub("state");
  test::WriteFile(path + ".tmp", "half of a write the process died in");
  ASSERT_TRUE(WriteFileAtomic(path, "whole").ok());
  EXPECT_EQ(test::ReadFile(path), "whole");
  EXPECT_EQ(ModeOf(path), 0600u);
  EXPECT_EQ(Names(dir.path()), (std::set<std::string>{"state"}));
}

TEST(AtomicFile, UniqueTempNameKeepsTheModeWhateverTheUmask) {
  test::TempDir dir("atomic-unique");
  const std::string path = dir.Sub("cert.pem");
  const mode_t old = ::umask(0077);  // narrower than 0644: fchmod restores the mode asked for
  const Status first = WriteFileAtomic(path, "one", {.mode = 0644, .temp_name = TempName::kUnique});
  ::umask(old);
  ASSERT_TRUE(first.ok()) << first.ToString();
  EXPECT_EQ(ModeOf(path), 0644u);
  ASSERT_TRUE(WriteFileAtomic(path, "two", {.mode = 0644, .temp_name = TempName::kUnique}).ok());
  EXPECT_EQ(test::ReadFile(path), "two");
  EXPECT_EQ(Names(dir.path()), (std::set<std::string>{"cert.pem"}));
}

TEST(AtomicFile, AFailedRenameNamesThePathAndLeavesNoTempFile) {
  test::TempDir dir("atomic-fail");
  const std::string path = dir.Sub("folder");
  fs::create_directory(path);
  test::WriteFile(path + "/inside", "kept");
  const Status s = WriteFileAtomic(path, "x");  // a file cannot be renamed over a folder
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("to '" + path + "'"), std::string::npos) << s.message();
  EXPECT_EQ(Names(dir.path()), (std::set<std::string>{"folder"}));
  EXPECT_EQ(test::ReadFile(path + "/inside"), "kept");
}

TEST(AtomicFile, ReadSmallFileIsBounded) {
  test::TempDir dir("atomic-read");
  const std::string path = dir.Sub("f");
  EXPECT_EQ(ReadSmallFile(path, 10).status().code(), Status::Code::kNotFound);
  test::WriteFile(path, "0123456789");
  auto exact = ReadSmallFile(path, 10);
  ASSERT_TRUE(exact.ok()) << exact.status().ToString();
  EXPECT_EQ(*exact, "0123456789");
  auto over = ReadSmallFile(path, 9);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(over.status().message().find(path), std::string::npos) << over.status().message();
}

}  // namespace
}  // namespace ksweep
