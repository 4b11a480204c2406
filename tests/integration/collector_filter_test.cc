// HostFilter -> HostQuery: the `expr` text form and the fields, ANDed; every bad term named.
#include <gtest/gtest.h>
#include <google/protobuf/util/time_util.h>

#include "server/filter.h"

namespace ksweep::server {
namespace {

using google::protobuf::util::TimeUtil;

Result<HostQuery> Parse(const std::string& expr) {
  v1::HostFilter f;
  f.set_expr(expr);
  return ParseHostFilter(f);
}

TEST(CollectorFilter, EmptyFilterSelectsEverything) {
  auto q = Parse("");
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE(q->empty());
  EXPECT_TRUE(Parse("   ")->empty());
}

TEST(CollectorFilter, EveryKeyParses) {
  auto q = Parse("verdict=running,INSTALLED product=kesl version=12.1 os=\"debian 12\" hostname=web-* label=prod "
                 "seen_after=2026-01-01T00:00:00Z seen_before=2026-02-01T00:00:00Z");
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  ASSERT_EQ(q->verdict_sets.size(), 1u);
  EXPECT_EQ(q->verdict_sets[0], (std::vector<v1::Verdict>{v1::VERDICT_RUNNING, v1::VERDICT_INSTALLED}));
  ASSERT_EQ(q->products.size(), 1u);
  EXPECT_EQ(q->products[0].product_id, "kesl");
  EXPECT_EQ(q->products[0].version, "12.1");
  ASSERT_EQ(q->os.size(), 1u);
  EXPECT_EQ(q->os[0].id, "debian");
  EXPECT_EQ(q->os[0].version_id, "12");
  EXPECT_EQ(q->hostname_globs, std::vector<std::string>{"web-*"});
  EXPECT_EQ(q->labels, std::vector<std::string>{"prod"});
  google::protobuf::Timestamp t;
  ASSERT_TRUE(TimeUtil::FromString("2026-01-01T00:00:00Z", &t));
  EXPECT_EQ(*q->seen_after, TimeUtil::TimestampToMicroseconds(t));
  ASSERT_TRUE(TimeUtil::FromString("2026-02-01T00:00:00Z", &t));
  EXPECT_EQ(*q->seen_before, TimeUtil::TimestampToMicroseconds(t));
}

TEST(CollectorFilter, PlatformTermsAndFieldsAreSets) {
  auto q = Parse("platform=windows,MacOS platform=PLATFORM_LINUX,windows");
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  ASSERT_EQ(q->platform_sets.size(), 2u);
  EXPECT_EQ(q->platform_sets[0], (std::vector<v1::Platform>{v1::PLATFORM_WINDOWS, v1::PLATFORM_MACOS}));
  EXPECT_EQ(q->platform_sets[1], (std::vector<v1::Platform>{v1::PLATFORM_LINUX, v1::PLATFORM_WINDOWS}));
  EXPECT_FALSE(q->empty());

  v1::HostFilter f;
  f.add_platforms(v1::PLATFORM_MACOS);
  f.add_platforms(v1::PLATFORM_LINUX);
  f.set_expr("platform=mac");
  auto both = ParseHostFilter(f);
  ASSERT_TRUE(both.ok()) << both.status().ToString();
  ASSERT_EQ(both->platform_sets.size(), 2u);
  EXPECT_EQ(both->platform_sets[0], (std::vector<v1::Platform>{v1::PLATFORM_MACOS, v1::PLATFORM_LINUX}));
  EXPECT_EQ(both->platform_sets[1], std::vector<v1::Platform>{v1::PLATFORM_MACOS});

  for (v1::Platform bad : {v1::PLATFORM_UNSPECIFIED, static_cast<v1::Platform>(9)}) {
    v1::HostFilter g;
    g.add_platforms(v1::PLATFORM_LINUX);
    g.add_platforms(bad);
    auto r = ParseHostFilter(g);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find("filter platforms[1]: " + std::to_string(bad) + " is not"), std::string::npos)
        << r.status().message();
  }
}

TEST(CollectorFilter, FieldsAndExprAreAnded) {
  v1::HostFilter f;
  f.add_verdicts(v1::VERDICT_RUNNING);
  f.set_os("rhel");
  f.set_expr("verdict=installed,running os=rhel");
  *f.mutable_seen_after() = TimeUtil::SecondsToTimestamp(100);
  f.set_expr(f.expr() + " seen_after=1970-01-01T00:03:20Z");  // 200 s: the later bound wins
  auto q = ParseHostFilter(f);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->verdict_sets.size(), 2u);
  EXPECT_EQ(q->os.size(), 2u);
  EXPECT_EQ(*q->seen_after, 200 * kMicrosPerSecond);
}

TEST(CollectorFilter, TwoProductsDoNotBindAVersion) {
  auto q = Parse("product=kesl product=klnagent64 version=14");
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->products.size(), 3u);
  EXPECT_EQ(q->products[2].product_id, "");
  EXPECT_EQ(q->products[2].version, "14");
}

TEST(CollectorFilter, BadTermsAreNamed) {
  struct Case {
    std::string expr, message;
  } cases[] = {
      {"verdict=blue", "filter expr: term 'verdict=blue' at offset 0: verdict 'blue' is not RUNNING"},
      {"verdict=running,", "term 'verdict=running,' at offset 0: verdict '' is not"},
      {"os=debian colour=red", "term 'colour=red' at offset 10: unknown key 'colour'"},
      {"hostname", "term 'hostname' at offset 0: expected key=value"},
      {"=x", "missing key"},
      {"label=", "term 'label=' at offset 0: missing value"},
      {"os=\"debian 12", "unterminated quote"},
      {"seen_before=2026-13-01T00:00:00Z", "is not an RFC 3339 time"},
      {"verdict=unspecified", "verdict 'unspecified' is not"},
      {"os=debian platform=beos", "term 'platform=beos' at offset 10: platform 'beos' is not linux, windows or macos"},
      {"platform=linux,", "term 'platform=linux,' at offset 0: platform '' is not"},
      {"platform=unknown", "platform 'unknown' is not"},
      {"platform=windows;macos", "platform 'windows;macos' is not"},
  };
  for (const auto& c : cases) {
    auto q = Parse(c.expr);
    ASSERT_FALSE(q.ok()) << c.expr;
    EXPECT_EQ(q.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(q.status().message().find(c.message), std::string::npos) << q.status().message();
  }
  v1::HostFilter f;
  f.add_verdicts(static_cast<v1::Verdict>(42));
  auto q = ParseHostFilter(f);
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.status().message().find("filter verdicts[0]: 42"), std::string::npos) << q.status().message();
}

TEST(CollectorFilter, CanonicalFormTellsQueriesApart) {
  auto a = Parse("verdict=running,installed label=prod");
  auto b = Parse("verdict=installed,running label=prod");
  auto c = Parse("verdict=running label=prod");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(CanonicalQuery(*a, v1::HOST_ORDER_HOSTNAME), CanonicalQuery(*b, v1::HOST_ORDER_HOSTNAME));
  EXPECT_NE(CanonicalQuery(*a, v1::HOST_ORDER_HOSTNAME), CanonicalQuery(*c, v1::HOST_ORDER_HOSTNAME));
  EXPECT_NE(CanonicalQuery(*a, v1::HOST_ORDER_HOSTNAME), CanonicalQuery(*a, v1::HOST_ORDER_LAST_SEEN));
  auto w = Parse("platform=windows,macos label=prod");
  auto m = Parse("platform=macos,windows label=prod");
  auto l = Parse("platform=linux label=prod");
  auto none = Parse("label=prod");
  ASSERT_TRUE(w.ok() && m.ok() && l.ok() && none.ok());
  EXPECT_EQ(CanonicalQuery(*w, v1::HOST_ORDER_HOSTNAME), CanonicalQuery(*m, v1::HOST_ORDER_HOSTNAME));
  EXPECT_NE(CanonicalQuery(*w, v1::HOST_ORDER_HOSTNAME), CanonicalQuery(*l, v1::HOST_ORDER_HOSTNAME));
  EXPECT_NE(CanonicalQuery(*l, v1::HOST_ORDER_HOSTNAME), CanonicalQuery(*none, v1::HOST_ORDER_HOSTNAME));
  // A value cannot pose as another field.
  auto d = Parse("label=prod hostname=x");
  auto e = Parse("label=\"prodh1:x\"");
  EXPECT_NE(CanonicalQuery(*d, v1::HOST_ORDER_HOSTNAME), CanonicalQuery(*e, v1::HOST_ORDER_HOSTNAME));
}

}  // namespace
}  // namespace ksweep::server
