#include "agent/probe_registry.h"

namespace ksweep::agent {

void ProbeRegistry::Register(std::string name, Factory factory) { factories_[std::move(name)] = std::move(factory); }

std::vector<ProbePtr> ProbeRegistry::CreateAll() const {
  std::vector<ProbePtr> probes;
  for (const auto& [name, factory] : factories_) probes.push_back(factory());
  return probes;
}

std::vector<std::string> ProbeRegistry::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, factory] : factories_) names.push_back(name);
  return names;
}

void RegisterBuiltinProbes(ProbeRegistry& registry) {
  registry.Register("dpkg", MakeDpkgProbe);
  registry.Register("rpm", MakeRpmProbe);
  registry.Register("paths", MakePathProbe);
  registry.Register("services", MakeServiceProbe);
  registry.Register("processes", MakeProcessProbe);
  registry.Register("kernel_modules", MakeKernelModuleProbe);
}

}  // namespace ksweep::agent
