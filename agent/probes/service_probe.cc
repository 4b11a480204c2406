// Services: systemd unit files in the unit search path and SysV scripts in /etc/init.d. On the live root a unit is
// active when systemd keeps its invocation record in /run/systemd/units (no D-Bus needed).
#include "agent/probe_registry.h"
#include "common/glob.h"

namespace ksweep::agent {
namespace {

// systemd's system unit search path, most specific first.
constexpr std::string_view kUnitDirs[] = {
    "/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
    "/lib/systemd/system",  "/usr/lib/systemd/system",
};
constexpr std::string_view kInitDir = "/etc/init.d";

bool IsUnitFile(std::string_view name) {
  for (std::string_view suffix : {".service", ".socket", ".timer", ".path", ".target", ".mount"}) {
    if (name.size() > suffix.size() && name.ends_with(suffix)) return true;
  }
  return false;
}

std::string_view WithoutServiceSuffix(std::string_view name) {
  constexpr std::string_view kSuffix = ".service";
  if (name.size() > kSuffix.size() && name.ends_with(kSuffix)) name.remove_suffix(kSuffix.size());
  return name;
}

// A unit folder holds hundreds of units; only those some rule names are worth a stat.
class ServiceFilter {
 public:
  explicit ServiceFilter(const v1::RuleSet& rules) {
    for (const auto& p : rules.products()) {
      for (const auto& s : p.signals()) {
        if (s.kind() == v1::SIGNAL_KIND_SERVICE) patterns_.emplace_back(WithoutServiceSuffix(s.pattern()));
      }
    }
  }
  bool Wanted(std::string_view file_name) const {
    const std::string base(WithoutServiceSuffix(file_name));
    for (const auto& p : patterns_) {
      if (GlobMatch(p, base)) return true;
    }
    return false;
  }

 private:
  std::vector<std::string> patterns_;
};

class ServiceProbe final : public Probe {
 public:
  std::string_view name() const override { return "services"; }

  ProbeResult Run(const ProbeContext& ctx) override {
    ProbeResult result;
    const ServiceFilter filter(ctx.rules);
    bool any_dir = false;
    for (std::string_view dir : kUnitDirs) {
      auto entries = ctx.root.ListDir(dir);
      if (!entries.ok()) {
        if (entries.status().code() != Status::Code::kNotFound) {
          result.warnings.push_back(entries.status().message());
        }
        continue;
      }
      any_dir = true;
      for (const auto& e : *entries) {
        if (!IsUnitFile(e.name)) continue;
        ++result.items;
        if (!filter.Wanted(e.name)) continue;
        const std::string path = std::string(dir) + "/" + e.name;
        // A masked unit (a link to /dev/null) and dangling links are not installations.
        auto info = ctx.root.Stat(path);
        if (!info.ok()) {
          if (info.status().code() != Status::Code::kNotFound) result.warnings.push_back(info.status().message());
          continue;
        }
        if (!info->is_regular || info->size == 0) continue;
        Observation o;
        o.kind = ObservationKind::kService;
        o.evidence_kind = v1::EVIDENCE_KIND_SERVICE;
        o.name = e.name;
        o.path = path;
        o.active = ctx.root.live() && ctx.root.Exists("/run/systemd/units/invocation:" + e.name);
        o.detail = "systemd unit " + e.name + " (" + path + ")" + (o.active ? ", active" : "");
        result.observations.push_back(std::move(o));
      }
    }
    if (auto entries = ctx.root.ListDir(kInitDir); entries.ok()) {
      any_dir = true;
      for (const auto& e : *entries) {
        ++result.items;
        if (!filter.Wanted(e.name)) continue;
        const std::string path = std::string(kInitDir) + "/" + e.name;
        auto info = ctx.root.Stat(path);
        if (!info.ok()) {
          if (info.status().code() != Status::Code::kNotFound) result.warnings.push_back(info.status().message());
          continue;
        }
        if (!info->is_regular) continue;
        Observation o;
        o.kind = ObservationKind::kService;
        o.evidence_kind = v1::EVIDENCE_KIND_SERVICE;
        o.name = e.name;
        o.path = path;
        o.detail = "SysV init script " + path;
        result.observations.push_back(std::move(o));
      }
    } else if (entries.status().code() != Status::Code::kNotFound) {
      result.warnings.push_back(entries.status().message());
    }
    result.status = any_dir ? Status::Ok()
                            : Status::Unavailable("no systemd unit folders nor /etc/init.d under " + ctx.root.path());
    return result;
  }
};

}  // namespace

ProbePtr MakeServiceProbe() { return std::make_unique<ServiceProbe>(); }

}  // namespace ksweep::agent
