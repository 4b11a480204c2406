#include "agent/windows/registry_path.h"

#include <strings.h>

#include <cstdio>

namespace ksweep::agent {
namespace {

// Windows keeps at most a handful of control sets; Select\Current beyond this is corruption, not a key to look for.
constexpr uint32_t kMaxControlSet = 999;

// Takes the first backslash-separated component off `path` when it equals `want` without case.
bool Consume(std::string_view* path, std::string_view want) {
  const size_t sep = path->find('\\');
  const std::string_view head = path->substr(0, sep);
  if (head.size() != want.size() || ::strncasecmp(head.data(), want.data(), want.size()) != 0) return false;
  *path = sep == std::string_view::npos ? std::string_view() : path->substr(sep + 1);
  return true;
}

}  // namespace

std::optional<HklmPath> ParseHklmPath(std::string_view path) {
  if (!Consume(&path, "HKLM") && !Consume(&path, "HKEY_LOCAL_MACHINE")) return std::nullopt;
  HklmPath out;
  if (Consume(&path, "SOFTWARE")) {
    out.hive_file = kSoftwareHive;
  } else if (Consume(&path, "SYSTEM")) {
    out.hive_file = kSystemHive;
    out.current_control_set = Consume(&path, "CurrentControlSet");
  } else {
    return std::nullopt;
  }
  out.rest = std::string(path);
  return out;
}

Result<HiveKey> CurrentControlSet(Hive& system) {
  auto select = system.Find(system.root(), "Select");
  if (!select.ok()) return select.status();
  if (!*select) return Status::InvalidArgument(system.file() + ": no Select key, so no current control set");
  constexpr std::string_view kWanted[] = {"Current"};
  auto values = system.Values(**select, kWanted);
  if (!values.ok()) return values.status();
  const std::optional<uint32_t> current = values->Dword("Current");
  if (!current || *current == 0 || *current > kMaxControlSet) {
    return Status::InvalidArgument(system.file() + ": Select\\Current is " +
                                   (current ? std::to_string(*current) : std::string("missing")) +
                                   ", not a control set number");
  }
  char name[32];
  std::snprintf(name, sizeof name, "ControlSet%03u", static_cast<unsigned>(*current));
  auto set = system.Find(system.root(), name);
  if (!set.ok()) return set.status();
  if (!*set) return Status::InvalidArgument(system.file() + ": Select\\Current names " + name + ", which is absent");
  return std::move(**set);
}

}  // namespace ksweep::agent
