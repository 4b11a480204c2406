#include "common/glob.h"

#include <gtest/gtest.h>

namespace ksweep {
namespace {

TEST(Glob, Matches) {
  EXPECT_TRUE(GlobMatch("kesl", "kesl"));
  EXPECT_FALSE(GlobMatch("kesl", "kesl-gui"));
  EXPECT_TRUE(GlobMatch("kesl*", "kesl-gui"));
  EXPECT_TRUE(GlobMatch("kav4fs_oas*", "kav4fs_oas"));
  EXPECT_TRUE(GlobMatch("klnagent?4", "klnagent64"));
  EXPECT_TRUE(GlobMatch("[kK]esl", "Kesl"));
  EXPECT_FALSE(GlobMatch("*kaspersky*", "Kaspersky Lab <x@y>"));
  EXPECT_TRUE(GlobMatch("*kaspersky*", "Kaspersky Lab <x@y>", /*case_insensitive=*/true));
  EXPECT_TRUE(GlobMatch("/opt/kaspersky/*", "/opt/kaspersky/kesl/bin"));
}

TEST(Glob, Validates) {
  EXPECT_TRUE(ValidateGlob("kesl").ok());
  EXPECT_TRUE(ValidateGlob("k[ae]sl*").ok());
  EXPECT_TRUE(ValidateGlob("[]]x").ok());
  EXPECT_TRUE(ValidateGlob("a\\*").ok());
  EXPECT_FALSE(ValidateGlob("").ok());
  EXPECT_FALSE(ValidateGlob("kesl[").ok());
  EXPECT_FALSE(ValidateGlob("kesl]").ok());
  EXPECT_FALSE(ValidateGlob("kesl\\").ok());
  EXPECT_NE(ValidateGlob("ab[cd").message().find("offset 2"), std::string::npos);
}

}  // namespace
}  // namespace ksweep
