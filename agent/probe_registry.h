#pragma once

#include <functional>
#include <string>
#include <vector>

#include "agent/probe.h"

namespace ksweep::agent {

// Name -> (platform, factory). Explicit registration (static initialisers get dropped from static libraries).
// A probe reads one platform's system: a scan runs only the probes of the platform its root holds.
class ProbeRegistry {
 public:
  using Factory = std::function<ProbePtr()>;
  void Register(std::string name, v1::Platform platform, Factory factory);
  std::vector<ProbePtr> CreateFor(v1::Platform platform) const;

 private:
  struct Entry {
    std::string name;
    v1::Platform platform;
    Factory factory;
  };
  std::vector<Entry> entries_;  // in registration order; a name may serve several platforms
};

// Factories of the built-in probes, one per file under agent/probes/.
ProbePtr MakeDpkgProbe();
ProbePtr MakeRpmProbe();
ProbePtr MakePathProbe();
ProbePtr MakeServiceProbe();
ProbePtr MakeProcessProbe();
ProbePtr MakeKernelModuleProbe();
ProbePtr MakeInstalledProgramsProbe();
ProbePtr MakeRegistryKeyProbe();
ProbePtr MakeWindowsServiceProbe();
ProbePtr MakeAppBundleProbe();
ProbePtr MakeLaunchdProbe();
ProbePtr MakePackageReceiptProbe();
ProbePtr MakeKernelExtensionProbe();

void RegisterBuiltinProbes(ProbeRegistry& registry);

}  // namespace ksweep::agent
