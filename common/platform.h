// Platform names as people and scripts write them (`--platform windows`, `platform=linux,macos`).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/glob.h"
#include "ksweep/v1/rules.pb.h"

namespace ksweep {

// "linux", "windows", "macos"; "unknown" for PLATFORM_UNSPECIFIED.
std::string_view PlatformName(v1::Platform platform);

// As a person writes it: "Linux", "Windows", "macOS"; "Unknown" for PLATFORM_UNSPECIFIED.
std::string_view PlatformLabel(v1::Platform platform);

// Case-insensitive; also accepts the enum spelling (PLATFORM_WINDOWS) and "mac". Nothing for anything else.
std::optional<v1::Platform> ParsePlatformName(std::string_view name);

// Windows and macOS compare file, registry, service and bundle names without case; Linux with it.
bool NamesIgnoreCase(v1::Platform platform);

// How a rule of `platform` writes a backslash in a pattern: a Windows path separator, elsewhere an escape.
Backslash PatternBackslash(v1::Platform platform);

}  // namespace ksweep
