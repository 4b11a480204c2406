// Host facts of a Mac's system disk, from the files macOS itself keeps:
// - the OS from /System/Library/CoreServices/SystemVersion.plist (what `sw_vers` prints);
// - the host name from the SystemConfiguration preferences (what System Settings > Sharing sets);
// - the host id from the Mac's hardware UUID (IOPlatformUUID), which the disk holds in the names of the per-host
//   preference files (Library/Preferences/ByHost/<domain>.<UUID>.plist), hashed as Linux hashes its machine-id.
// The kernel and architecture are not written anywhere cheap to read on the disk: they stay empty.
#include "agent/platforms/macos_facts.h"

#include <algorithm>
#include <map>

#include "agent/host_facts.h"
#include "agent/plist.h"
#include "agent/probes/macos_files.h"

namespace ksweep::agent {
namespace {

constexpr std::string_view kSystemVersion = "/System/Library/CoreServices/SystemVersion.plist";
constexpr std::string_view kPreferences = "/Library/Preferences/SystemConfiguration/preferences.plist";
constexpr std::string_view kMachineByHost = "/Library/Preferences/ByHost";
constexpr std::string_view kUsers = "/Users";
// User folders looked into for ByHost files; the machine's own ByHost folder usually settles it alone.
constexpr size_t kMaxUsersRead = 64;

void ReadSystemVersion(const Root& root, v1::OsInfo* os, std::vector<std::string>* warnings) {
  auto plist = ReadPlist(root, kSystemVersion);
  if (!plist.ok()) {
    warnings->push_back("OS version unknown: " + plist.status().message());
    return;
  }
  const PlistNode v = plist->root();
  const std::string name = v.Get("ProductName").AsString().value_or("");
  const std::string version = v.Get("ProductVersion").AsString().value_or("");
  const std::string build = v.Get("ProductBuildVersion").AsString().value_or("");
  os->set_id("macos");
  os->set_name(name);
  os->set_version_id(version);
  std::string pretty = name.empty() ? "macOS" : name;
  if (!version.empty()) pretty += " " + version;
  if (!build.empty()) pretty += " (" + build + ")";
  os->set_pretty_name(pretty);
}

// What `hostname` prints on a Mac: the HostName an administrator set, else the Bonjour LocalHostName; the
// ComputerName ("Anna's MacBook Pro") when neither is written.
std::string ReadHostname(const Root& root, std::vector<std::string>* warnings) {
  auto plist = ReadPlist(root, kPreferences);
  if (!plist.ok()) {
    if (plist.status().code() != Status::Code::kNotFound) warnings->push_back("hostname: " + plist.status().message());
    return {};
  }
  const PlistNode system = plist->root().Get("System");
  for (const PlistNode& n : {system.Get("System").Get("HostName"),
                             system.Get("Network").Get("HostNames").Get("LocalHostName"),
                             system.Get("System").Get("LocalHostName"), system.Get("System").Get("ComputerName")}) {
    if (auto s = n.AsString(); s && !s->empty()) return *s;
  }
  return {};
}

// "com.apple.screensaver.0A1B2C3D-....plist" -> the normalized UUID, "" when the name carries none.
std::string UuidOfByHostName(std::string_view name) {
  if (!HasSuffix(name, ".plist")) return {};
  name.remove_suffix(std::string_view(".plist").size());
  const size_t dot = name.rfind('.');
  const std::string_view last = dot == std::string_view::npos ? name : name.substr(dot + 1);
  if (last.size() != 36) return {};  // 8-4-4-4-12; pre-10.5 files carry a 12-digit MAC address instead
  return NormalizedGuid(last);
}

void CountByHostUuids(const Root& root, std::string_view dir, std::map<std::string, int>* counts) {
  FileFailures ignored;  // an unreadable ByHost folder only means fewer votes
  for (const auto& e : ListFolder(root, dir, &ignored)) {
    if (std::string uuid = UuidOfByHostName(e.name); !uuid.empty()) ++(*counts)[uuid];
  }
}

// The hardware UUID most ByHost files are named with. A disk moved to a new Mac with Migration Assistant keeps the
// old Mac's files beside the new ones, so the names may carry several UUIDs: the most frequent wins, and a warning
// says there was a choice.
std::string ReadPlatformUuid(const Root& root, std::vector<std::string>* warnings) {
  std::map<std::string, int> counts;
  CountByHostUuids(root, kMachineByHost, &counts);
  FileFailures ignored;
  size_t users = 0;
  for (const auto& user : ListFolder(root, kUsers, &ignored)) {
    if (++users > kMaxUsersRead) break;
    CountByHostUuids(root, std::string(kUsers) + "/" + user.name + "/Library/Preferences/ByHost", &counts);
  }
  if (counts.empty()) return {};
  const auto best = std::max_element(counts.begin(), counts.end(),
                                     [](const auto& a, const auto& b) { return a.second < b.second; });
  if (counts.size() > 1) {
    warnings->push_back("ByHost preference files carry " + std::to_string(counts.size()) +
                        " hardware UUIDs (a disk migrated from another Mac?): host id from the one " +
                        std::to_string(best->second) + " files are named with");
  }
  return best->first;
}

}  // namespace

void ReadMacosFacts(const Root& root, v1::HostFacts* facts, std::vector<std::string>* warnings) {
  ReadSystemVersion(root, facts->mutable_os(), warnings);
  facts->set_hostname(ReadHostname(root, warnings));
  if (const std::string uuid = ReadPlatformUuid(root, warnings); !uuid.empty()) {
    facts->set_host_id(HostIdFromMachineId(uuid));
  } else {
    // As on Linux without a machine-id: stable, but not unique across clones. Said out loud.
    warnings->push_back("no hardware UUID in the ByHost preference files under " + root.path() +
                        ": host id derived from the hostname");
    facts->set_host_id(HostIdFromMachineId("hostname:" + facts->hostname()));
  }
}

}  // namespace ksweep::agent
