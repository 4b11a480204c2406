#include "agent/probe_registry.h"

namespace ksweep::agent {

void ProbeRegistry::Register(std::string name, v1::Platform platform, Factory factory) {
  entries_.push_back(Entry{std::move(name), platform, std::move(factory)});
}

std::vector<ProbePtr> ProbeRegistry::CreateFor(v1::Platform platform) const {
  std::vector<ProbePtr> probes;
  for (const auto& entry : entries_) {
    if (entry.platform == platform) probes.push_back(entry.factory());
  }
  return probes;
}

void RegisterBuiltinProbes(ProbeRegistry& registry) {
  registry.Register("dpkg", v1::PLATFORM_LINUX, MakeDpkgProbe);
  registry.Register("rpm", v1::PLATFORM_LINUX, MakeRpmProbe);
  registry.Register("paths", v1::PLATFORM_LINUX, MakePathProbe);
  registry.Register("services", v1::PLATFORM_LINUX, MakeServiceProbe);
  registry.Register("processes", v1::PLATFORM_LINUX, MakeProcessProbe);
  registry.Register("kernel_modules", v1::PLATFORM_LINUX, MakeKernelModuleProbe);
  // Files and folders the rules name, on every platform (paths compare without case where the platform does).
  registry.Register("paths", v1::PLATFORM_WINDOWS, MakePathProbe);
  registry.Register("paths", v1::PLATFORM_MACOS, MakePathProbe);
  registry.Register("installed_programs", v1::PLATFORM_WINDOWS, MakeInstalledProgramsProbe);
  registry.Register("registry_keys", v1::PLATFORM_WINDOWS, MakeRegistryKeyProbe);
  registry.Register("windows_services", v1::PLATFORM_WINDOWS, MakeWindowsServiceProbe);
  registry.Register("app_bundles", v1::PLATFORM_MACOS, MakeAppBundleProbe);
  registry.Register("launchd_jobs", v1::PLATFORM_MACOS, MakeLaunchdProbe);
  registry.Register("package_receipts", v1::PLATFORM_MACOS, MakePackageReceiptProbe);
  registry.Register("kernel_extensions", v1::PLATFORM_MACOS, MakeKernelExtensionProbe);
}

}  // namespace ksweep::agent
