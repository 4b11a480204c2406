#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "agent/probe.h"

namespace ksweep::agent {

// Name -> factory. Explicit registration (static initialisers get dropped from static libraries).
class ProbeRegistry {
 public:
  using Factory = std::function<ProbePtr()>;
  void Register(std::string name, Factory factory);
  std::vector<ProbePtr> CreateAll() const;
  std::vector<std::string> Names() const;

 private:
  std::map<std::string, Factory> factories_;
};

// Factories of the built-in probes, one per file under agent/probes/.
ProbePtr MakeDpkgProbe();
ProbePtr MakeRpmProbe();
ProbePtr MakePathProbe();
ProbePtr MakeServiceProbe();
ProbePtr MakeProcessProbe();
ProbePtr MakeKernelModuleProbe();

void RegisterBuiltinProbes(ProbeRegistry& registry);

}  // namespace ksweep::agent
