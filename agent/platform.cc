#include "agent/platform.h"

#include "agent/host_facts.h"
#include "agent/platforms/macos_facts.h"
#include "agent/platforms/windows_facts.h"

namespace ksweep::agent {
namespace {

// dpkg's and rpm's databases (only the database files, not their locks and journals: an rpm query may create those,
// and must not trigger the next scan), the service folders, Kaspersky's install root.
constexpr InventoryPlace kLinuxInventory[] = {
    {"/var/lib/dpkg", "status", true},
    {"/var/lib/rpm", "rpmdb.sqlite", true},
    {"/var/lib/rpm", "Packages", true},
    {"/var/lib/rpm", "Packages.db", true},
    {"/usr/lib/sysimage/rpm", "rpmdb.sqlite", true},
    {"/usr/lib/sysimage/rpm", "Packages", true},
    {"/usr/lib/sysimage/rpm", "Packages.db", true},
    {"/etc/systemd/system", "", false},
    {"/lib/systemd/system", "", false},
    {"/usr/lib/systemd/system", "", false},
    {"/run/systemd/system", "", false},
    {"/etc/init.d", "", false},
    {"/opt/kaspersky", "", false},
};
// Programs, services and drivers all live in the two hives.
constexpr InventoryPlace kWindowsInventory[] = {
    {"/Windows/System32/config", "SOFTWARE", true},
    {"/Windows/System32/config", "SYSTEM", true},
};
// What the macOS probes read (agent/probes/app_bundle_probe.cc and the others).
constexpr InventoryPlace kMacosInventory[] = {
    {"/Applications", "", false},           {"/Library/LaunchDaemons", "", false}, {"/Library/LaunchAgents", "", false},
    {"/var/db/receipts", "", false},        {"/Library/Receipts", "", false},      {"/Library/Extensions", "", false},
    {"/System/Library/Extensions", "", false}, {"/Library/SystemExtensions", "", false},
};

constexpr PlatformSpec kPlatforms[] = {
    {v1::PLATFORM_WINDOWS, "/Windows/System32/config/SOFTWARE", ReadWindowsFacts, kWindowsInventory},
    {v1::PLATFORM_MACOS, "/System/Library/CoreServices/SystemVersion.plist", ReadMacosFacts, kMacosInventory},
    {v1::PLATFORM_LINUX, "", ReadLinuxFacts, kLinuxInventory},
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
