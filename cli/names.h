// Short, human names for the fleet enums and their parsing back from flags: "RUNNING", "detected", ...
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "ksweep/v1/fleet.pb.h"

namespace ksweep::cli {

// "RUNNING", "DETECTED", "DPKG_PACKAGE": the enum value name without its type prefix. "" for UNSPECIFIED.
std::string ShortName(v1::Verdict verdict);
std::string ShortName(v1::ProductState state);
std::string ShortName(v1::EventType type);
std::string ShortName(v1::EvidenceKind kind);

// A comma list of verdicts ("running,installed"), case-insensitive; `flag` names the option in errors.
Result<std::vector<v1::Verdict>> ParseVerdicts(std::string_view list, std::string_view flag);
// A comma list of event types ("detected,removed", "version-changed" or "version_changed").
Result<std::vector<v1::EventType>> ParseEventTypes(std::string_view list, std::string_view flag);
// A comma list of platforms ("windows,macos"), case-insensitive, as common/platform.h spells them.
Result<std::vector<v1::Platform>> ParsePlatforms(std::string_view list, std::string_view flag);
// hostname | last-seen | verdict.
Result<v1::HostOrder> ParseHostOrder(std::string_view text, std::string_view flag);

}  // namespace ksweep::cli
