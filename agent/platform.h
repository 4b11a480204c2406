// Which operating system a scanned root holds, and what differs by platform outside the probes and rules: where the
// host facts are (how names compare: common/platform.h). Adding a platform is one row in Platforms() (platform.cc), its facts
// reader under platforms/, its probes (registered with the platform in probe_registry.cc) and its rules.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ksweep/v1/report.pb.h"
#include "ksweep/v1/rules.pb.h"

namespace ksweep::agent {

class Root;

// A folder where a platform records what is installed; a change there may change a scan's answer.
struct InventoryPlace {
  std::string_view dir;
  std::string_view name_glob;  // only entries matching this; empty: any entry
  bool contents = false;       // also in-place rewrites (a package database, a registry hive)
};

struct PlatformSpec {
  v1::Platform platform = v1::PLATFORM_UNSPECIFIED;
  // A file only this platform's system root holds (as the platform spells it; looked up without case); empty for
  // the fallback.
  std::string_view marker;
  // Fills id, hostname, OS, kernel and arch of a root of this platform; warnings say what could not be read.
  void (*read_facts)(const Root& root, v1::HostFacts* facts, std::vector<std::string>* warnings) = nullptr;
  // What the daemon watches besides the rules' own paths (agent/daemon/watcher.h).
  std::span<const InventoryPlace> inventory;
};

// In the order they are recognised; the last one (Linux) is the fallback.
std::span<const PlatformSpec> Platforms();

const PlatformSpec& PlatformSpecOf(v1::Platform platform);

// The platform this agent was built for: what the live root "/" holds.
v1::Platform HostPlatform();

}  // namespace ksweep::agent
