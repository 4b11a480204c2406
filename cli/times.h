// Times and durations on the command line and in output. Output is always UTC, RFC 3339.
#pragma once

#include <google/protobuf/timestamp.pb.h>

#include <chrono>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ksweep::cli {

// RFC 3339 ("2026-05-01T12:00:00Z", "2026-05-01T14:00:00+02:00"), a UTC date ("2026-05-01": its midnight), or an
// age counted back from `now` ("90s", "15m", "24h", "7d", "2w"). `flag` names the option in errors.
Result<google::protobuf::Timestamp> ParseTime(std::string_view text, const google::protobuf::Timestamp& now,
                                              std::string_view flag);

// "10" (seconds), "2.5s", "500ms", "2m": a positive duration.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text, std::string_view flag);

// For tables: second precision, "2026-05-01T12:00:00Z"; "" when unset.
std::string FormatTimeShort(const google::protobuf::Timestamp& t);
// For CSV: the proto JSON form (RFC 3339 with fractions when there are any); "" when unset.
std::string FormatTimeFull(const google::protobuf::Timestamp& t);

bool IsSet(const google::protobuf::Timestamp& t);
google::protobuf::Timestamp Now();

}  // namespace ksweep::cli
