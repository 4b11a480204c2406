// What probes see, before any rule is applied: packages, files, services, processes, modules; on Windows registry
// keys, installed programs, services and drivers; on macOS bundles, receipts, launchd jobs and kernel extensions.
#pragma once

#include <string>
#include <vector>

#include "ksweep/v1/report.pb.h"

namespace ksweep::agent {

enum class ObservationKind {
  kPackage,
  kPath,
  kService,
  kProcess,
  kKernelModule,
  kRegistryKey,
  kInstalledProgram,
  kWindowsService,
  kWindowsDriver,
  kAppBundle,
  kPackageReceipt,
  kLaunchdJob,
  kKernelExtension,
};

// How the package database describes a package. For dpkg the third word of Status decides.
enum class PackageState {
  kInstalled,      // installed (also when on hold)
  kBroken,         // installed but unpacked / half-installed / half-configured / triggers-*
  kConfigFiles,    // removed, configuration left: a remnant
  kNotInstalled,
};

struct Observation {
  ObservationKind kind = ObservationKind::kPath;
  v1::EvidenceKind evidence_kind = v1::EVIDENCE_KIND_UNSPECIFIED;
  // Package, unit or script, process (comm) or module name; for paths the path inside the root; the registry key
  // (`HKLM\SOFTWARE\KasperskyLab`), an Uninstall entry's DisplayName, a service's or driver's key name, a bundle's
  // or kext's CFBundleIdentifier, a receipt's package id, a launchd Label.
  std::string name;
  // Where a person can look: a path inside the root (status file, unit file), /proc/PID, or a registry key.
  std::string path;
  std::string version;
  std::string vendor;  // deb Maintainer, rpm Vendor, Uninstall Publisher, a driver image's CompanyName
  std::string image;   // a service's or driver's ImagePath, an Uninstall InstallLocation, a bundle's folder
  std::string detail;  // one human line, e.g. "status 'hold ok installed'"
  PackageState package_state = PackageState::kNotInstalled;
  bool active = false;      // a service unit that is running (live root)
  bool is_dir = false;      // paths
  bool executable = false;  // paths
  std::string sha256;       // binaries named by a BINARY signal, lowercase hex
  std::string exe;          // processes: /proc/PID/exe target
  int pid = 0;
};

using Observations = std::vector<Observation>;

}  // namespace ksweep::agent
