// Where HKEY_LOCAL_MACHINE lives in a Windows system root: HKLM\SOFTWARE is the hive file
// Windows/System32/config/SOFTWARE, HKLM\SYSTEM the file SYSTEM, and HKLM\SYSTEM\CurrentControlSet is whichever
// ControlSet00N the SYSTEM hive's Select\Current names (on a disk there is no CurrentControlSet link to follow).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "agent/windows/hive.h"
#include "common/status.h"

namespace ksweep::agent {

constexpr std::string_view kSoftwareHive = "/Windows/System32/config/SOFTWARE";
constexpr std::string_view kSystemHive = "/Windows/System32/config/SYSTEM";

struct HklmPath {
  std::string_view hive_file;        // kSoftwareHive or kSystemHive
  bool current_control_set = false;  // `rest` lies below SYSTEM's current control set
  std::string rest;                  // backslash-separated, below the hive root or the control set; may be ""
};

// `HKLM\SOFTWARE\KasperskyLab` (or `HKEY_LOCAL_MACHINE\...`, any case) -> SOFTWARE + `KasperskyLab`;
// `HKLM\SYSTEM\CurrentControlSet\Services\klif` -> SYSTEM, control set, `Services\klif`. Nothing for other keys.
std::optional<HklmPath> ParseHklmPath(std::string_view path);

// The control set SYSTEM's Select\Current names (`ControlSet001`), or why there is none.
Result<HiveKey> CurrentControlSet(Hive& system);

}  // namespace ksweep::agent
