#include "agent/platform.h"

#include "agent/host_facts.h"
#include "agent/platforms/macos_facts.h"
#include "agent/platforms/windows_facts.h"

namespace ksweep::agent {
namespace {

constexpr PlatformSpec kPlatforms[] = {
    {v1::PLATFORM_WINDOWS, "/Windows/System32/config/SOFTWARE", ReadWindowsFacts},
    {v1::PLATFORM_MACOS, "/System/Library/CoreServices/SystemVersion.plist", ReadMacosFacts},
    {v1::PLATFORM_LINUX, "", ReadLinuxFacts},
};

}  // namespace

std::span<const PlatformSpec> Platforms() { return kPlatforms; }

const PlatformSpec& PlatformSpecOf(v1::Platform platform) {
  for (const auto& spec : kPlatforms) {
    if (spec.platform == platform) return spec;
  }
  return kPlatforms[std::size(kPlatforms) - 1];
}

v1::Platform HostPlatform() {
#if defined(_WIN32)
  return v1::PLATFORM_WINDOWS;
#elif defined(__APPLE__)
  return v1::PLATFORM_MACOS;
#else
  return v1::PLATFORM_LINUX;
#endif
}

}  // namespace ksweep::agent
