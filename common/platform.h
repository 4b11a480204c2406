// Platform names as people and scripts write them (`--platform windows`, `platform=linux,macos`).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "ksweep/v1/rules.pb.h"

namespace ksweep {

// "linux", "windows", "macos"; "unknown" for PLATFORM_UNSPECIFIED.
std::string_view PlatformName(v1::Platform platform);

// Case-insensitive; also accepts the enum spelling (PLATFORM_WINDOWS) and "mac". Nothing for anything else.
std::optional<v1::Platform> ParsePlatformName(std::string_view name);

}  // namespace ksweep
