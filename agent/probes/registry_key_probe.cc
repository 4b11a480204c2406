// Registry keys the rules name (REGISTRY_KEY signals: `HKLM\SOFTWARE\KasperskyLab`,
// `HKLM\SYSTEM\CurrentControlSet\Services\kl*`): reports those that exist, named as the rule writes them.
// A wildcard may stand in the last key name only.
#include <map>
#include <set>

#include "agent/probe_registry.h"
#include "agent/windows/hive.h"
#include "agent/windows/registry_path.h"
#include "common/glob.h"

namespace ksweep::agent {
namespace {

// Each hive file opened once per run, and SYSTEM's control set looked up once.
class HiveSet {
 public:
  explicit HiveSet(const Root& root) : root_(root) {}

  // The key `path` starts below, or nothing (with why in *error when it is not just an absent hive).
  std::optional<HiveKey> Base(const HklmPath& path, Hive** hive, Status* error) {
    auto [it, fresh] = opened_.try_emplace(std::string(path.hive_file));
    Opened& o = it->second;
    if (fresh) {
      auto h = Hive::Open(root_, path.hive_file);
      if (h.ok()) {
        o.hive = std::move(*h);
      } else {
        o.status = h.status();
      }
    }
    *error = o.status.code() == Status::Code::kNotFound ? Status::Ok() : o.status;
    if (!o.hive) return std::nullopt;
    *hive = o.hive.get();
    if (!path.current_control_set) return o.hive->root();
    if (!o.control_set && o.control_set_status.ok()) {
      auto cs = CurrentControlSet(*o.hive);
      if (cs.ok()) {
        o.control_set = std::move(*cs);
      } else {
        o.control_set_status = cs.status();
      }
    }
    *error = o.control_set_status;
    return o.control_set;
  }

 private:
  struct Opened {
    std::unique_ptr<Hive> hive;
    Status status;
    std::optional<HiveKey> control_set;
    Status control_set_status;
  };
  const Root& root_;
  std::map<std::string, Opened> opened_;
};

Observation KeyObservation(const std::string& name, const HiveKey& key, std::string_view hive_file) {
  Observation o;
  o.kind = ObservationKind::kRegistryKey;
  o.evidence_kind = v1::EVIDENCE_KIND_REGISTRY_KEY;
  o.name = name;
  o.path = name;
  o.detail = "registry key " + name + " exists (" + std::string(hive_file.substr(hive_file.rfind('/') + 1)) +
             " hive, key " + key.path + ")";
  return o;
}

class RegistryKeyProbe final : public Probe {
 public:
  std::string_view name() const override { return "registry_keys"; }

  ProbeResult Run(const ProbeContext& ctx) override {
    ProbeResult result;
    std::set<std::string> patterns;
    for (const auto& product : ctx.rules.products()) {
      if (product.platform() != ctx.root.platform()) continue;
      for (const auto& s : product.signals()) {
        if (s.kind() == v1::SIGNAL_KIND_REGISTRY_KEY) patterns.insert(s.pattern());
      }
    }
    auto fail = [&result](const Status& s) {
      if (result.status.ok()) {
        result.status = s;
      } else if (s.message() != result.status.message()) {
        result.warnings.push_back(s.message());
      }
    };
    HiveSet hives(ctx.root);
    std::set<std::string> seen;
    for (const auto& pattern : patterns) {
      ++result.items;
      const auto path = ParseHklmPath(pattern);
      if (!path) {
        result.warnings.push_back("registry key " + pattern + ": only HKLM\\SOFTWARE and HKLM\\SYSTEM are read");
        continue;
      }
      Hive* hive = nullptr;
      Status error;
      const std::optional<HiveKey> base = hives.Base(*path, &hive, &error);
      if (!error.ok()) fail(error);
      if (!base) continue;
      for (auto& [name, key] : Lookup(*hive, *base, pattern, path->rest, fail)) {
        if (seen.insert(name).second) result.observations.push_back(KeyObservation(name, key, path->hive_file));
      }
    }
    return result;
  }

 private:
  // The keys matching `rest` below `base`, each with its name as the rule writes it.
  template <typename Fail>
  static std::vector<std::pair<std::string, HiveKey>> Lookup(Hive& hive, const HiveKey& base,
                                                             const std::string& pattern, const std::string& rest,
                                                             Fail fail) {
    std::vector<std::pair<std::string, HiveKey>> out;
    if (!HasGlobMeta(rest)) {
      auto key = hive.Find(base, rest);
      if (!key.ok()) fail(key.status());
      if (key.ok() && *key) out.emplace_back(pattern, std::move(**key));
      return out;
    }
    const size_t sep = rest.rfind('\\');
    const std::string parent_path = sep == std::string::npos ? "" : rest.substr(0, sep);
    const std::string leaf = rest.substr(sep == std::string::npos ? 0 : sep + 1);
    auto parent = hive.Find(base, parent_path);
    if (!parent.ok()) fail(parent.status());
    if (!parent.ok() || !*parent) return out;
    auto children = hive.Children(**parent);
    if (!children.ok()) {
      fail(children.status());
      return out;
    }
    const std::string prefix = pattern.substr(0, pattern.rfind('\\') + 1);
    for (auto& child : *children) {
      if (GlobMatch(leaf, child.name, true)) out.emplace_back(prefix + child.name, std::move(child));
    }
    return out;
  }
};

}  // namespace

ProbePtr MakeRegistryKeyProbe() { return std::make_unique<RegistryKeyProbe>(); }

}  // namespace ksweep::agent
