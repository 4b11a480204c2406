#pragma once

#include <string>
#include <vector>

#include "agent/root.h"
#include "ksweep/v1/report.pb.h"

namespace ksweep::agent {

// Host facts of a Macos system root (see agent/platform.h).
void ReadMacosFacts(const Root& root, v1::HostFacts* facts, std::vector<std::string>* warnings);

}  // namespace ksweep::agent
