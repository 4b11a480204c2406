#include "common/platform.h"

#include <algorithm>
#include <cctype>

namespace ksweep {

std::string_view PlatformName(v1::Platform platform) {
  switch (platform) {
    case v1::PLATFORM_LINUX: return "linux";
    case v1::PLATFORM_WINDOWS: return "windows";
    case v1::PLATFORM_MACOS: return "macos";
    default: return "unknown";
  }
}

std::string_view PlatformLabel(v1::Platform platform) {
  switch (platform) {
    case v1::PLATFORM_LINUX: return "Linux";
    case v1::PLATFORM_WINDOWS: return "Windows";
    case v1::PLATFORM_MACOS: return "macOS";
    default: return "Unknown";
  }
}

std::optional<v1::Platform> ParsePlatformName(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower.starts_with("platform_")) lower.erase(0, 9);
  if (lower == "linux") return v1::PLATFORM_LINUX;
  if (lower == "windows") return v1::PLATFORM_WINDOWS;
  if (lower == "macos" || lower == "mac") return v1::PLATFORM_MACOS;
  return std::nullopt;
}

bool NamesIgnoreCase(v1::Platform platform) {
  return platform == v1::PLATFORM_WINDOWS || platform == v1::PLATFORM_MACOS;
}

Backslash PatternBackslash(v1::Platform platform) {
  return platform == v1::PLATFORM_WINDOWS ? Backslash::kLiteral : Backslash::kEscapes;
}

}  // namespace ksweep
