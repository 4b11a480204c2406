#pragma once

#include <string>
#include <vector>

#include "agent/root.h"
#include "ksweep/v1/report.pb.h"

namespace ksweep::agent {

// Host facts of a Windows system root (see agent/platform.h).
void ReadWindowsFacts(const Root& root, v1::HostFacts* facts, std::vector<std::string>* warnings);

}  // namespace ksweep::agent
