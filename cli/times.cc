#include "cli/times.h"

#include <google/protobuf/util/time_util.h>

#include <cctype>
#include <charconv>
#include <cstdint>
#include <ctime>

namespace ksweep::cli {
namespace {

using google::protobuf::Timestamp;
using google::protobuf::util::TimeUtil;

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// The number and unit of "15m"; false when the text is not a whole number followed by a unit.
bool SplitAmount(std::string_view text, int64_t* amount, std::string_view* unit) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 12) return false;  // 12 digits: far past any sensible age, and no overflow below
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, *amount);
  if (ec != std::errc() || ptr != text.data() + i) return false;
  *unit = text.substr(i);
  return true;
}

}  // namespace

bool IsSet(const Timestamp& t) { return t.seconds() != 0 || t.nanos() != 0; }

Timestamp Now() { return TimeUtil::GetCurrentTime(); }

Result<Timestamp> ParseTime(std::string_view text, const Timestamp& now, std::string_view flag) {
  const std::string s(text);
  const std::string expected =
      " (expected RFC 3339 like 2026-05-01T12:00:00Z, a date like 2026-05-01, or an age like 30m, 24h, 7d)";
  int64_t amount = 0;
  std::string_view unit;
  if (SplitAmount(text, &amount, &unit) && !unit.empty() && unit.size() == 1) {
    int64_t seconds_per_unit = 0;
    switch (unit[0]) {
      case 's': seconds_per_unit = 1; break;
      case 'm': seconds_per_unit = 60; break;
      case 'h': seconds_per_unit = 3600; break;
      case 'd': seconds_per_unit = 86400; break;
      case 'w': seconds_per_unit = 7 * 86400; break;
      default: break;
    }
    if (seconds_per_unit != 0) {
      Timestamp t = now;
      t.set_seconds(now.seconds() - amount * seconds_per_unit);
      if (t.seconds() < 0) return Status::InvalidArgument(std::string(flag) + ": '" + s + "' reaches before 1970");
      return t;
    }
  }
  if (s.size() == 10 && AllDigits(s.substr(0, 4)) && s[4] == '-' && AllDigits(s.substr(5, 2)) && s[7] == '-' &&
      AllDigits(s.substr(8, 2))) {
    Timestamp t;
    if (TimeUtil::FromString(s + "T00:00:00Z", &t)) return t;
    return Status::InvalidArgument(std::string(flag) + ": '" + s + "' is not a valid date" + expected);
  }
  Timestamp t;
  if (!TimeUtil::FromString(s, &t)) {
    return Status::InvalidArgument(std::string(flag) + ": cannot read time '" + s + "'" + expected);
  }
  return t;
}

Result<std::chrono::milliseconds> ParseDuration(std::string_view text, std::string_view flag) {
  const std::string s(text);
  const std::string expected = " (expected seconds like 10 or 2.5, or 500ms, 10s, 2m)";
  // Split into a decimal number and a unit by hand: stod would accept "inf", "1e9" and leading spaces.
  size_t i = 0;
  bool dot = false;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || (s[i] == '.' && !dot))) {
    dot = dot || s[i] == '.';
    ++i;
  }
  const std::string number = s.substr(0, i);
  const std::string unit = s.substr(i);
  if (number.empty() || number == "." || number.size() > 12) {
    return Status::InvalidArgument(std::string(flag) + ": cannot read duration '" + s + "'" + expected);
  }
  double millis_per_unit = 0;
  if (unit.empty() || unit == "s") {
    millis_per_unit = 1000;
  } else if (unit == "ms") {
    millis_per_unit = 1;
  } else if (unit == "m") {
    millis_per_unit = 60000;
  } else {
    return Status::InvalidArgument(std::string(flag) + ": unknown unit in '" + s + "'" + expected);
  }
  const double millis = std::stod(number) * millis_per_unit;
  if (millis < 1) return Status::InvalidArgument(std::string(flag) + ": '" + s + "' must be at least 1ms");
  return std::chrono::milliseconds(static_cast<int64_t>(millis));
}

std::string FormatTimeShort(const Timestamp& t) {
  if (!IsSet(t)) return "";
  const std::time_t secs = static_cast<std::time_t>(t.seconds());
  std::tm tm{};
  if (gmtime_r(&secs, &tm) == nullptr) return FormatTimeFull(t);
  char buf[32];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

std::string FormatTimeFull(const Timestamp& t) {
  if (!IsSet(t)) return "";
  return TimeUtil::ToString(t);
}

}  // namespace ksweep::cli
