#pragma once

#include <string>
#include <vector>

#include "agent/root.h"
#include "ksweep/v1/report.pb.h"

namespace ksweep::agent {

// Stable host id: HMAC-SHA256 keyed by the machine id over ksweep's application id (as systemd's
// sd_id128_get_machine_app_specific does), hex. The raw machine id never leaves the host.
std::string HostIdFromMachineId(const std::string& machine_id);

// Host facts of the scanned root: id, hostname, os-release, and kernel/arch for the live root.
v1::HostFacts ReadHostFacts(const Root& root, std::vector<std::string>* warnings);

}  // namespace ksweep::agent
