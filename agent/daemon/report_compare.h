// When is a new scan worth a report? When it says something different about the host, not when it merely ran again.
#pragma once

#include "ksweep/v1/report.pb.h"

namespace ksweep::agent {

// True when both reports say the same: host facts, verdict, findings with their evidence, versions, warnings and
// which probes worked. Ignored: when the scan ran, how long probes took and how many records they read (the process
// count changes on every scan of a live host).
bool SameContent(const v1::HostReport& a, const v1::HostReport& b);

}  // namespace ksweep::agent
