#include "agent/platforms/windows_facts.h"

#include <cstdlib>

#include "agent/host_facts.h"
#include "agent/windows/hive.h"
#include "agent/windows/registry_path.h"

namespace ksweep::agent {
namespace {

// Windows 11 kept "Windows 10" in CurrentVersion's ProductName; its builds start here.
constexpr unsigned long kFirstWindows11Build = 22000;

constexpr std::string_view kCurrentVersion = "Microsoft\\Windows NT\\CurrentVersion";
constexpr std::string_view kVersionValues[] = {
    "ProductName", "DisplayVersion", "ReleaseId",  "CurrentBuild", "CurrentBuildNumber",
    "UBR",         "EditionID",      "CurrentMajorVersionNumber",  "CurrentMinorVersionNumber"};

// PROCESSOR_ARCHITECTURE as uname(2) would name the machine.
std::string ArchOf(std::string_view windows) {
  if (windows == "AMD64") return "x86_64";
  if (windows == "x86") return "i686";
  if (windows == "ARM64") return "aarch64";
  if (windows == "ARM") return "arm";
  if (windows == "IA64") return "ia64";
  return std::string(windows);
}

void FillOs(const HiveValues& v, v1::HostFacts* facts) {
  v1::OsInfo* os = facts->mutable_os();
  os->set_id("windows");
  std::string name = v.String("ProductName").value_or("Windows");
  std::string build = v.String("CurrentBuild").value_or(v.String("CurrentBuildNumber").value_or(""));
  const unsigned long build_number = std::strtoul(build.c_str(), nullptr, 10);
  if (build_number >= kFirstWindows11Build && name.starts_with("Windows 10")) name.replace(8, 2, "11");
  os->set_name(name);
  os->set_version_id(build);
  // 22H2 on Windows 10 2004 and later, the older ReleaseId (1909) before.
  const std::string release = v.String("DisplayVersion").value_or(v.String("ReleaseId").value_or(""));
  const std::optional<uint32_t> ubr = v.Dword("UBR");
  std::string pretty = name;
  if (!release.empty()) pretty += " " + release;
  if (!build.empty()) pretty += " (build " + build + (ubr ? "." + std::to_string(*ubr) : "") + ")";
  os->set_pretty_name(pretty);
  const std::optional<uint32_t> major = v.Dword("CurrentMajorVersionNumber");
  const std::optional<uint32_t> minor = v.Dword("CurrentMinorVersionNumber");
  if (major && minor && !build.empty()) {
    facts->set_kernel(std::to_string(*major) + "." + std::to_string(*minor) + "." + build +
                      (ubr ? "." + std::to_string(*ubr) : ""));
  }
}

// A value of one key, or nothing with a warning naming the hive and the reason.
std::optional<std::string> ReadString(Hive& hive, const HiveKey& from, std::string_view key, std::string_view value,
                                      std::vector<std::string>* warnings) {
  auto found = hive.Find(from, key);
  if (!found.ok()) {
    warnings->push_back(found.status().message());
    return std::nullopt;
  }
  if (!*found) return std::nullopt;
  const std::string_view wanted[] = {value};
  auto values = hive.Values(**found, wanted);
  if (!values.ok()) {
    warnings->push_back(values.status().message());
    return std::nullopt;
  }
  return values->String(value);
}

void ReadSoftware(const Root& root, v1::HostFacts* facts, std::string* machine_guid,
                  std::vector<std::string>* warnings) {
  auto hive = Hive::Open(root, kSoftwareHive);
  if (!hive.ok()) {
    warnings->push_back("host facts: " + hive.status().message());
    return;
  }
  auto current = (*hive)->Find((*hive)->root(), kCurrentVersion);
  if (!current.ok()) {
    warnings->push_back("host facts: " + current.status().message());
  } else if (*current) {
    auto values = (*hive)->Values(**current, kVersionValues);
    if (values.ok()) {
      FillOs(*values, facts);
    } else {
      warnings->push_back("host facts: " + values.status().message());
    }
  }
  *machine_guid =
      ReadString(**hive, (*hive)->root(), "Microsoft\\Cryptography", "MachineGuid", warnings).value_or("");
}

void ReadSystem(const Root& root, v1::HostFacts* facts, std::vector<std::string>* warnings) {
  auto hive = Hive::Open(root, kSystemHive);
  if (!hive.ok()) {
    warnings->push_back("host facts: " + hive.status().message());
    return;
  }
  auto control_set = CurrentControlSet(**hive);
  if (!control_set.ok()) {
    warnings->push_back("host facts: " + control_set.status().message());
    return;
  }
  facts->set_hostname(ReadString(**hive, *control_set, "Control\\ComputerName\\ComputerName", "ComputerName",
                                 warnings)
                          .value_or(""));
  if (auto arch = ReadString(**hive, *control_set, "Control\\Session Manager\\Environment", "PROCESSOR_ARCHITECTURE",
                             warnings)) {
    facts->set_arch(ArchOf(*arch));
  }
}

}  // namespace

void ReadWindowsFacts(const Root& root, v1::HostFacts* facts, std::vector<std::string>* warnings) {
  std::string machine_guid;
  ReadSoftware(root, facts, &machine_guid, warnings);
  ReadSystem(root, facts, warnings);
  const std::string id = NormalizedGuid(machine_guid);
  if (!id.empty()) {
    facts->set_host_id(HostIdFromMachineId(id));
  } else {
    // As on Linux without a machine id: stable, but not unique across clones of one image. Said out loud.
    warnings->push_back("no valid MachineGuid in " + std::string(kSoftwareHive) +
                        " (Microsoft\\Cryptography): host id derived from the hostname");
    facts->set_host_id(HostIdFromMachineId("hostname:" + facts->hostname()));
  }
}

}  // namespace ksweep::agent
