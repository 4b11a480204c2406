#pragma once

#include <string>
#include <vector>

#include "agent/root.h"
#include "ksweep/v1/report.pb.h"

namespace ksweep::agent {

// Stable host id: HMAC-SHA256 keyed by the machine id over ksweep's application id (as systemd's
// sd_id128_get_machine_app_specific does), hex. The raw machine id never leaves the host.
std::string HostIdFromMachineId(const std::string& machine_id);

// Host facts of the scanned root: its platform, then what that platform's reader finds (agent/platform.h).
v1::HostFacts ReadHostFacts(const Root& root, std::vector<std::string>* warnings);

// A Linux root: id from /etc/machine-id, hostname, os-release, and kernel/arch for the live root.
void ReadLinuxFacts(const Root& root, v1::HostFacts* facts, std::vector<std::string>* warnings);

// For ids that are GUIDs or UUIDs (Windows MachineGuid, a Mac's IOPlatformUUID): lowercase hex without braces and
// dashes, so the same id hashes the same however it was written; "" when `guid` is not 32 hex digits.
std::string NormalizedGuid(std::string_view guid);

}  // namespace ksweep::agent
