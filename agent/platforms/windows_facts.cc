#include "agent/platforms/windows_facts.h"

#include "agent/host_facts.h"

namespace ksweep::agent {

// First cut: the platform only. The facts come from the system files in the next commits.
void ReadWindowsFacts(const Root& root, v1::HostFacts* facts, std::vector<std::string>* warnings) {
  warnings->push_back("host facts of a windows root are not read yet: host id derived from the root path");
  facts->set_host_id(HostIdFromMachineId("root:" + root.path()));
}

}  // namespace ksweep::agent
