// Installed programs of a Windows root: the Uninstall entries of both registry views, as Programs and Features lists
// them (SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall, and SOFTWARE\WOW6432Node\... for 32-bit programs on
// 64-bit Windows). An entry without DisplayName is not listed by Windows either, and is skipped.
#include "agent/probe_registry.h"
#include "agent/windows/hive.h"
#include "agent/windows/registry_path.h"

namespace ksweep::agent {
namespace {

struct UninstallView {
  std::string_view key;  // below HKLM\SOFTWARE
  std::string_view label;
};

constexpr UninstallView kViews[] = {
    {"Microsoft\\Windows\\CurrentVersion\\Uninstall", "64-bit view"},
    {"WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall", "32-bit view"},
};

constexpr std::string_view kWanted[] = {"DisplayName", "DisplayVersion", "Publisher", "InstallLocation"};

Observation InstalledProgram(const std::string& key_path, const HiveValues& values, std::string_view view) {
  Observation o;
  o.kind = ObservationKind::kInstalledProgram;
  o.evidence_kind = v1::EVIDENCE_KIND_INSTALLED_PROGRAM;
  o.name = values.String("DisplayName").value_or("");
  o.version = values.String("DisplayVersion").value_or("");
  o.vendor = values.String("Publisher").value_or("");
  o.image = values.String("InstallLocation").value_or("");
  o.path = key_path;
  o.detail = "Uninstall entry " + key_path + ": '" + o.name + "'";
  if (!o.version.empty()) o.detail += " " + o.version;
  if (!o.vendor.empty()) o.detail += ", publisher '" + o.vendor + "'";
  o.detail += " (" + std::string(view) + ")";
  return o;
}

class InstalledProgramsProbe final : public Probe {
 public:
  std::string_view name() const override { return "installed_programs"; }

  ProbeResult Run(const ProbeContext& ctx) override {
    ProbeResult result;
    auto hive = Hive::Open(ctx.root, kSoftwareHive);
    if (!hive.ok()) {
      result.status = hive.status().code() == Status::Code::kNotFound
                          ? Status::Unavailable("no SOFTWARE hive (" + std::string(kSoftwareHive) + ")")
                          : hive.status();
      return result;
    }
    // A corrupt part of the hive fails the probe (the report is incomplete) but what could be read is kept.
    auto fail = [&result](const Status& s) {
      if (result.status.ok()) result.status = s;
      else result.warnings.push_back(s.message());
    };
    for (const auto& view : kViews) {
      auto uninstall = (*hive)->Find((*hive)->root(), view.key);
      if (!uninstall.ok()) {
        fail(uninstall.status());
        continue;
      }
      if (!*uninstall) continue;
      auto entries = (*hive)->Children(**uninstall);
      if (!entries.ok()) {
        fail(entries.status());
        continue;
      }
      for (const auto& entry : *entries) {
        ++result.items;
        auto values = (*hive)->Values(entry, kWanted);
        if (!values.ok()) {
          fail(values.status());
          continue;
        }
        if (!values->String("DisplayName").has_value() || values->String("DisplayName")->empty()) continue;
        result.observations.push_back(InstalledProgram("HKLM\\SOFTWARE" + entry.path, *values, view.label));
      }
    }
    return result;
  }
};

}  // namespace

ProbePtr MakeInstalledProgramsProbe() { return std::make_unique<InstalledProgramsProbe>(); }

}  // namespace ksweep::agent
