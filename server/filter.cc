#include "server/filter.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>

#include "common/platform.h"
#include "server/store/history.h"

namespace ksweep::server {
namespace {

using google::protobuf::util::TimeUtil;

constexpr char kKeys[] = "verdict, platform, product, version, os, hostname, label, seen_after, seen_before";
constexpr char kPlatforms[] = "linux, windows or macos";

Status Bad(const std::string& term, size_t offset, const std::string& why) {
  return Status::InvalidArgument("filter expr: term '" + term + "' at offset " + std::to_string(offset) + ": " + why);
}

OsCondition ParseOs(const std::string& text) {
  const auto space = text.find(' ');
  if (space == std::string::npos) return {text, ""};
  return {text.substr(0, space), text.substr(space + 1)};
}

Result<v1::Verdict> CheckVerdict(std::string_view name) {
  auto v = ParseVerdictName(name);
  if (!v) {
    return Status::InvalidArgument("verdict '" + std::string(name) +
                                   "' is not RUNNING, INSTALLED, REMNANT, CLEAN or STALE");
  }
  return *v;
}

Result<v1::Platform> CheckPlatform(std::string_view name) {
  auto p = ParsePlatformName(name);
  if (!p) return Status::InvalidArgument("platform '" + std::string(name) + "' is not " + kPlatforms);
  return *p;
}

// Each item of a comma list through `check`; an empty item is an error like any other bad name.
template <typename T, typename Check>
Result<std::vector<T>> ParseList(const std::string& list, Check check) {
  std::vector<T> out;
  size_t pos = 0;
  while (pos <= list.size()) {
    const size_t comma = std::min(list.find(',', pos), list.size());
    auto v = check(std::string_view(list).substr(pos, comma - pos));
    if (!v.ok()) return v.status();
    out.push_back(*v);
    pos = comma + 1;
  }
  return out;
}

void Tighten(std::optional<Micros>* bound, Micros value, bool lower) {
  if (!*bound) {
    *bound = value;
  } else {
    *bound = lower ? std::max(**bound, value) : std::min(**bound, value);
  }
}

struct Term {
  std::string text;  // as written, for messages
  std::string key;
  std::string value;
  size_t offset = 0;
};

Result<std::vector<Term>> Tokenize(const std::string& expr) {
  std::vector<Term> terms;
  size_t i = 0;
  while (i < expr.size()) {
    if (expr[i] == ' ' || expr[i] == '\t') {
      ++i;
      continue;
    }
    Term t;
    t.offset = i;
    const size_t start = i;
    while (i < expr.size() && expr[i] != '=' && expr[i] != ' ' && expr[i] != '\t') ++i;
    t.key = expr.substr(start, i - start);
    if (i >= expr.size() || expr[i] != '=') {
      return Bad(expr.substr(start, i - start), start, "expected key=value (keys: " + std::string(kKeys) + ")");
    }
    ++i;  // '='
    if (i < expr.size() && expr[i] == '"') {
      const size_t close = expr.find('"', i + 1);
      if (close == std::string::npos) return Bad(expr.substr(start), start, "unterminated quote");
      t.value = expr.substr(i + 1, close - i - 1);
      i = close + 1;
      if (i < expr.size() && expr[i] != ' ' && expr[i] != '\t') {
        return Bad(expr.substr(start, i - start + 1), start, "expected a space after the closing quote");
      }
    } else {
      const size_t vstart = i;
      while (i < expr.size() && expr[i] != ' ' && expr[i] != '\t') ++i;
      t.value = expr.substr(vstart, i - vstart);
    }
    t.text = expr.substr(start, i - start);
    if (t.key.empty()) return Bad(t.text, start, "missing key before '='");
    if (t.value.empty()) return Bad(t.text, start, "missing value after '='");
    terms.push_back(std::move(t));
  }
  return terms;
}

}  // namespace

Result<HostQuery> ParseHostFilter(const v1::HostFilter& filter) {
  HostQuery q;
  if (filter.verdicts_size() > 0) {
    std::vector<v1::Verdict> set;
    for (int i = 0; i < filter.verdicts_size(); ++i) {
      const auto v = filter.verdicts(i);
      if (v == v1::VERDICT_UNSPECIFIED || !v1::Verdict_IsValid(v)) {
        return Status::InvalidArgument("filter verdicts[" + std::to_string(i) + "]: " + std::to_string(v) +
                                       " is not RUNNING, INSTALLED, REMNANT, CLEAN or STALE");
      }
      set.push_back(v);
    }
    q.verdict_sets.push_back(std::move(set));
  }
  if (filter.platforms_size() > 0) {
    std::vector<v1::Platform> set;
    for (int i = 0; i < filter.platforms_size(); ++i) {
      const auto p = filter.platforms(i);
      if (p == v1::PLATFORM_UNSPECIFIED || !v1::Platform_IsValid(p)) {
        return Status::InvalidArgument("filter platforms[" + std::to_string(i) + "]: " + std::to_string(p) +
                                       " is not LINUX, WINDOWS or MACOS");
      }
      set.push_back(p);
    }
    q.platform_sets.push_back(std::move(set));
  }
  if (!filter.product_id().empty() || !filter.version().empty()) {
    q.products.push_back({filter.product_id(), filter.version()});
  }
  if (!filter.os().empty()) q.os.push_back(ParseOs(filter.os()));
  if (!filter.hostname_glob().empty()) q.hostname_globs.push_back(filter.hostname_glob());
  if (!filter.label().empty()) q.labels.push_back(filter.label());
  if (filter.has_seen_after()) Tighten(&q.seen_after, TimeUtil::TimestampToMicroseconds(filter.seen_after()), true);
  if (filter.has_seen_before()) {
    Tighten(&q.seen_before, TimeUtil::TimestampToMicroseconds(filter.seen_before()), false);
  }

  auto terms = Tokenize(filter.expr());
  if (!terms.ok()) return terms.status();
  std::vector<std::string> products;
  std::vector<std::string> versions;
  for (const auto& t : *terms) {
    if (t.key == "verdict") {
      auto set = ParseList<v1::Verdict>(t.value, CheckVerdict);
      if (!set.ok()) return Bad(t.text, t.offset, set.status().message());
      q.verdict_sets.push_back(std::move(*set));
    } else if (t.key == "platform") {
      auto set = ParseList<v1::Platform>(t.value, CheckPlatform);
      if (!set.ok()) return Bad(t.text, t.offset, set.status().message());
      q.platform_sets.push_back(std::move(*set));
    } else if (t.key == "product") {
      products.push_back(t.value);
    } else if (t.key == "version") {
      versions.push_back(t.value);
    } else if (t.key == "os") {
      q.os.push_back(ParseOs(t.value));
    } else if (t.key == "hostname") {
      q.hostname_globs.push_back(t.value);
    } else if (t.key == "label") {
      q.labels.push_back(t.value);
    } else if (t.key == "seen_after" || t.key == "seen_before") {
      google::protobuf::Timestamp ts;
      if (!TimeUtil::FromString(t.value, &ts)) {
        return Bad(t.text, t.offset, "'" + t.value + "' is not an RFC 3339 time (e.g. 2026-01-31T00:00:00Z)");
      }
      Tighten(t.key == "seen_after" ? &q.seen_after : &q.seen_before, TimeUtil::TimestampToMicroseconds(ts),
              t.key == "seen_after");
    } else {
      return Bad(t.text, t.offset, "unknown key '" + t.key + "' (keys: " + kKeys + ")");
    }
  }
  // `product=X version=Y` in one expr means X at version Y.
  if (products.size() == 1 && versions.size() == 1) {
    q.products.push_back({products[0], versions[0]});
  } else {
    for (auto& p : products) q.products.push_back({p, ""});
    for (auto& v : versions) q.products.push_back({"", v});
  }
  return q;
}

}  // namespace ksweep::server
