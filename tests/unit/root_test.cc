// Root resolves paths as the scanned system would: links inside the root stay inside it.
#include "agent/root.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace ksweep::agent {
namespace {

namespace fs = std::filesystem;

class RootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ksweep-root-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ / "data/dpkg");
    fs::create_directories(dir_ / "var/lib");
    std::ofstream(dir_ / "data/dpkg/status") << "Package: inside\n";
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(RootTest, AbsoluteLinksResolveInsideTheRoot) {
  fs::create_symlink("/data/dpkg", dir_ / "var/lib/dpkg");
  const Root root(dir_.string());
  EXPECT_FALSE(root.live());
  auto text = root.ReadFile("/var/lib/dpkg/status", 1024);
  ASSERT_TRUE(text.ok()) << text.status().message();
  EXPECT_EQ(*text, "Package: inside\n");
}

TEST_F(RootTest, RelativeLinksAndDotDotCannotEscape) {
  fs::create_symlink("../../../../../../../data/dpkg", dir_ / "var/lib/dpkg");
  const Root root(dir_.string());
  auto text = root.ReadFile("/var/lib/dpkg/status", 1024);
  ASSERT_TRUE(text.ok()) << text.status().message();
  EXPECT_EQ(*text, "Package: inside\n");
  auto host = root.Resolve("/../../etc/passwd");
  // /etc/passwd of the root, which does not exist: never the host's.
  EXPECT_FALSE(host.ok());
}

TEST_F(RootTest, LoopsAreErrorsNotHangs) {
  fs::create_symlink("b", dir_ / "a");
  fs::create_symlink("a", dir_ / "b");
  fs::create_symlink("self", dir_ / "self");
  const Root root(dir_.string());
  auto r = root.ReadFile("/a", 1024);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("symbolic links"), std::string::npos) << r.status().message();
  EXPECT_FALSE(root.Stat("/self").ok());
}

TEST_F(RootTest, SizeLimitNamesThePath) {
  std::ofstream(dir_ / "big") << std::string(5000, 'x');
  const Root root(dir_.string());
  auto r = root.ReadFile("/big", 100);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/big"), std::string::npos);
  EXPECT_NE(r.status().message().find("100"), std::string::npos);
}

TEST_F(RootTest, FifoIsRefusedWithoutBlocking) {
  ASSERT_EQ(::mkfifo((dir_ / "fifo").c_str(), 0600), 0);
  const Root root(dir_.string());
  auto r = root.ReadFile("/fifo", 100);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not a regular file"), std::string::npos);
}

TEST_F(RootTest, CheckNamesAMissingRoot) {
  const Root root((dir_ / "missing").string());
  const Status st = root.Check();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("missing"), std::string::npos);
  EXPECT_TRUE(Root("/").live());
  EXPECT_TRUE(Root("//").live());
}

}  // namespace
}  // namespace ksweep::agent
