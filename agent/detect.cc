#include "agent/detect.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>

#include "common/glob.h"
#include "common/platform.h"

namespace ksweep::agent {
namespace {

v1::ProductState PackageImplies(PackageState state) {
  switch (state) {
    case PackageState::kInstalled:
    case PackageState::kBroken: return v1::PRODUCT_STATE_INSTALLED;
    case PackageState::kConfigFiles: return v1::PRODUCT_STATE_REMNANT;
    case PackageState::kNotInstalled: return v1::PRODUCT_STATE_UNSPECIFIED;
  }
  return v1::PRODUCT_STATE_UNSPECIFIED;
}

v1::ProductState FromImplies(v1::Implies implies) {
  return implies == v1::IMPLIES_REMNANT ? v1::PRODUCT_STATE_REMNANT : v1::PRODUCT_STATE_INSTALLED;
}

std::string_view StripServiceSuffix(std::string_view name) {
  constexpr std::string_view kSuffix = ".service";
  if (name.size() > kSuffix.size() && name.ends_with(kSuffix)) name.remove_suffix(kSuffix.size());
  return name;
}

// Observations grouped by kind, with an exact-name index so the common case (a literal package name against a
// thousand packages) is a hash lookup, not a thousand glob matches.
class ObservationIndex {
 public:
  explicit ObservationIndex(const Observations& obs) : obs_(obs) {
    for (size_t i = 0; i < obs.size(); ++i) {
      by_kind_[static_cast<int>(obs[i].kind)].push_back(i);
      by_name_[Key(obs[i].kind, obs[i].name)].push_back(i);
    }
  }

  // Indices of observations of `kind` whose `field` matches `pattern`.
  template <typename Field>
  std::vector<size_t> Match(ObservationKind kind, const std::string& pattern, Field field, bool icase,
                            bool name_field, Backslash backslash = Backslash::kEscapes) const {
    if (name_field && !icase && !HasGlobMeta(pattern)) {
      auto it = by_name_.find(Key(kind, pattern));
      return it == by_name_.end() ? std::vector<size_t>{} : it->second;
    }
    std::vector<size_t> out;
    auto it = by_kind_.find(static_cast<int>(kind));
    if (it == by_kind_.end()) return out;
    for (size_t i : it->second) {
      if (GlobMatch(pattern, field(obs_[i]), icase, backslash)) out.push_back(i);
    }
    return out;
  }

 private:
  static std::string Key(ObservationKind kind, std::string_view name) {
    return std::to_string(static_cast<int>(kind)) + "\x1f" + std::string(name);
  }
  const Observations& obs_;
  std::unordered_map<int, std::vector<size_t>> by_kind_;
  std::unordered_map<std::string, std::vector<size_t>> by_name_;
};

// The record kinds of Windows and macOS signals: one observation kind each, matched by name.
std::optional<ObservationKind> RecordKindOf(v1::SignalKind kind) {
  switch (kind) {
    case v1::SIGNAL_KIND_INSTALLED_PROGRAM: return ObservationKind::kInstalledProgram;
    case v1::SIGNAL_KIND_REGISTRY_KEY: return ObservationKind::kRegistryKey;
    case v1::SIGNAL_KIND_WINDOWS_SERVICE: return ObservationKind::kWindowsService;
    case v1::SIGNAL_KIND_WINDOWS_DRIVER: return ObservationKind::kWindowsDriver;
    case v1::SIGNAL_KIND_APP_BUNDLE: return ObservationKind::kAppBundle;
    case v1::SIGNAL_KIND_PACKAGE_RECEIPT: return ObservationKind::kPackageReceipt;
    case v1::SIGNAL_KIND_LAUNCHD_JOB: return ObservationKind::kLaunchdJob;
    case v1::SIGNAL_KIND_KERNEL_EXTENSION: return ObservationKind::kKernelExtension;
    default: return std::nullopt;
  }
}

struct Hit {
  size_t observation;
  const v1::Signal* signal;
  v1::ProductState implies;
};

std::vector<Hit> MatchSignal(const v1::Signal& s, const ObservationIndex& index, const Observations& obs, bool live,
                             v1::Platform platform) {
  // Windows and macOS names compare without case; a Windows pattern's backslash is a path separator.
  const bool icase = NamesIgnoreCase(platform);
  const Backslash backslash = PatternBackslash(platform);
  std::vector<Hit> hits;
  auto add = [&](const std::vector<size_t>& found, auto implies_of) {
    for (size_t i : found) {
      const v1::ProductState st = implies_of(obs[i]);
      if (st != v1::PRODUCT_STATE_UNSPECIFIED) hits.push_back({i, &s, st});
    }
  };
  const auto name_of = [](const Observation& o) -> const std::string& { return o.name; };
  switch (s.kind()) {
    case v1::SIGNAL_KIND_PACKAGE:
      add(index.Match(ObservationKind::kPackage, s.pattern(), name_of, false, true),
          [](const Observation& o) { return PackageImplies(o.package_state); });
      break;
    case v1::SIGNAL_KIND_PACKAGE_VENDOR:
      add(index.Match(
              ObservationKind::kPackage, s.pattern(),
              [](const Observation& o) -> const std::string& { return o.vendor; }, true, false),
          [](const Observation& o) { return PackageImplies(o.package_state); });
      break;
    case v1::SIGNAL_KIND_PATH:
      add(index.Match(ObservationKind::kPath, s.pattern(), name_of, icase, true, backslash),
          [&s](const Observation&) { return FromImplies(s.implies()); });
      break;
    case v1::SIGNAL_KIND_BINARY:
      add(index.Match(ObservationKind::kPath, s.pattern(), name_of, icase, true, backslash), [&s](const Observation& o) {
        return o.is_dir ? v1::PRODUCT_STATE_UNSPECIFIED : FromImplies(s.implies());
      });
      break;
    case v1::SIGNAL_KIND_SERVICE: {
      // `kesl`, `kesl.service` and the SysV script `kesl` are one service.
      const std::string_view want = StripServiceSuffix(s.pattern());
      const std::string pattern(want);
      add(index.Match(
              ObservationKind::kService, pattern,
              [](const Observation& o) { return std::string(StripServiceSuffix(o.name)); }, false, false),
          [&s, live](const Observation& o) {
            return (o.active && live) ? v1::PRODUCT_STATE_RUNNING : FromImplies(s.implies());
          });
      break;
    }
    case v1::SIGNAL_KIND_PROCESS: {
      if (!live) break;
      const bool by_exe = !s.pattern().empty() && s.pattern().front() == '/';
      add(by_exe ? index.Match(
                       ObservationKind::kProcess, s.pattern(),
                       [](const Observation& o) -> const std::string& { return o.exe; }, icase, false, backslash)
                 : index.Match(ObservationKind::kProcess, s.pattern(), name_of, icase, true, backslash),
          [](const Observation&) { return v1::PRODUCT_STATE_RUNNING; });
      break;
    }
    case v1::SIGNAL_KIND_KERNEL_MODULE:
      if (!live) break;
      add(index.Match(ObservationKind::kKernelModule, s.pattern(), name_of, false, true),
          [](const Observation&) { return v1::PRODUCT_STATE_RUNNING; });
      break;
    default:
      // Windows and macOS records: names compare without case, as those systems compare them. A service the live
      // agent sees running says RUNNING; a record read from a disk says what the rule implies (INSTALLED unless told).
      if (const auto kind = RecordKindOf(s.kind())) {
        add(index.Match(*kind, s.pattern(), name_of, true, true, backslash), [&s, live](const Observation& o) {
          return (o.active && live) ? v1::PRODUCT_STATE_RUNNING : FromImplies(s.implies());
        });
      }
      break;
  }
  // Qualifiers make a shared name specific: a `kl*` driver counts only with a Kaspersky company or image path.
  std::erase_if(hits, [&](const Hit& h) {
    const Observation& o = obs[h.observation];
    return (!s.vendor().empty() && !GlobMatch(s.vendor(), o.vendor, true, backslash)) ||
           (!s.image().empty() && !GlobMatch(s.image(), o.image, true, backslash));
  });
  return hits;
}

bool IsRuntime(const Observation& o) {
  return o.kind == ObservationKind::kProcess || o.kind == ObservationKind::kKernelModule || o.active;
}

int StateRank(v1::ProductState s) { return static_cast<int>(s); }

// Records that name themselves (an Uninstall entry, a bundle, a service): the evidence repeats their fields.
bool IsRecord(ObservationKind kind) { return kind >= ObservationKind::kRegistryKey; }

// Builds the finding of one product from its hits, or nothing when no STRONG signal matched.
bool BuildFinding(const v1::Product& product, const std::vector<Hit>& hits, const Observations& obs,
                  v1::Finding* finding) {
  bool strong = false;
  for (const auto& h : hits) strong = strong || h.signal->strength() == v1::STRENGTH_STRONG;
  if (!strong) return false;

  // The package database is authoritative on whether a product is installed: when it knows the product, file
  // evidence cannot lift the state above the package's (a conffile left by `dpkg -r` is a remnant, not an install).
  v1::ProductState package_cap = v1::PRODUCT_STATE_UNSPECIFIED;
  for (const auto& h : hits) {
    if (obs[h.observation].kind == ObservationKind::kPackage && h.signal->strength() == v1::STRENGTH_STRONG) {
      package_cap = std::max(package_cap, h.implies, [](auto a, auto b) { return StateRank(a) < StateRank(b); });
    }
  }

  v1::ProductState state = v1::PRODUCT_STATE_UNSPECIFIED;
  std::set<std::string> seen;
  std::string version;
  int version_state = -1;
  for (const auto& h : hits) {
    const Observation& o = obs[h.observation];
    v1::ProductState implies = h.implies;
    if (package_cap != v1::PRODUCT_STATE_UNSPECIFIED && o.kind != ObservationKind::kPackage && !IsRuntime(o) &&
        StateRank(implies) > StateRank(package_cap)) {
      implies = package_cap;
    }
    if (h.signal->strength() == v1::STRENGTH_STRONG && StateRank(implies) > StateRank(state)) state = implies;
    // Package records give the version first; then what a strong record itself says (DisplayVersion,
    // CFBundleShortVersionString, a receipt's version).
    const int version_rank = StateRank(h.implies) * 2 + (o.kind == ObservationKind::kPackage ? 1 : 0);
    if (!o.version.empty() && (o.kind == ObservationKind::kPackage || h.signal->strength() == v1::STRENGTH_STRONG) &&
        version_rank > version_state) {
      version = o.version;
      version_state = version_rank;
    }
    if (o.kind == ObservationKind::kPackage && o.package_state == PackageState::kBroken) finding->set_broken(true);

    const std::string key = std::to_string(static_cast<int>(o.kind)) + "|" + o.path + "|" + o.name + "|" +
                            std::to_string(o.pid);
    if (!seen.insert(key).second) continue;
    v1::Evidence* e = finding->add_evidence();
    e->set_kind(o.evidence_kind);
    e->set_detail(o.detail);
    e->set_path(o.path);
    e->set_strength(h.signal->strength());
    e->set_confidence(h.signal->confidence());
    e->set_implies(implies);
    if (!o.sha256.empty()) e->set_sha256(o.sha256);
    if (o.pid != 0) e->set_pid(o.pid);
    if (IsRecord(o.kind)) {
      e->set_name(o.name);
      e->set_version(o.version);
      e->set_publisher(o.vendor);
    }
  }
  finding->set_product_id(product.id());
  finding->set_product_name(product.name());
  finding->set_vendor(product.vendor());
  finding->set_state(state);
  finding->set_version(version);
  // Strongest evidence first, so a person reads the proof before the corroboration.
  std::stable_sort(finding->mutable_evidence()->begin(), finding->mutable_evidence()->end(),
                   [](const v1::Evidence& a, const v1::Evidence& b) {
                     if (a.strength() != b.strength()) return a.strength() == v1::STRENGTH_STRONG;
                     return StateRank(a.implies()) > StateRank(b.implies());
                   });
  return true;
}

// A product that replaced another (UltraAV after Kaspersky) says so when both are on the host.
void NoteSuccessors(const v1::RuleSet& rules, std::vector<v1::Finding>* findings) {
  for (auto& f : *findings) {
    for (const auto& product : rules.products()) {
      if (product.id() != f.product_id()) continue;
      for (const auto& successor : product.successor_of()) {
        const bool predecessor_found = std::any_of(findings->begin(), findings->end(), [&](const v1::Finding& g) {
          return std::any_of(successor.product_ids().begin(), successor.product_ids().end(),
                             [&](const std::string& id) { return GlobMatch(id, g.product_id()); });
        });
        if (predecessor_found && f.note().empty()) f.set_note(successor.label());
      }
    }
  }
}

}  // namespace

std::vector<v1::Finding> Detect(const v1::RuleSet& rules, const Observations& observations, bool live,
                                v1::Platform platform) {
  const ObservationIndex index(observations);
  std::vector<v1::Finding> findings;
  std::vector<bool> claimed(observations.size(), false);
  std::set<std::string> vendors_found;
  // Specific products first; catch-alls then see only what no specific product claimed; fallbacks speak only when
  // nothing else of their vendor was found (UltraAV beside Kaspersky leftovers still shows the leftovers).
  for (const v1::ProductRole role :
       {v1::PRODUCT_ROLE_SPECIFIC, v1::PRODUCT_ROLE_CATCH_ALL, v1::PRODUCT_ROLE_FALLBACK}) {
    if (role == v1::PRODUCT_ROLE_FALLBACK) {
      for (const auto& f : findings) vendors_found.insert(f.vendor());
    }
    for (const auto& product : rules.products()) {
      if (product.platform() != platform || product.role() != role) continue;
      if (role == v1::PRODUCT_ROLE_FALLBACK && vendors_found.count(product.vendor()) != 0) continue;
      std::vector<Hit> hits;
      for (const auto& s : product.signals()) {
        for (auto& h : MatchSignal(s, index, observations, live, platform)) {
          if (role != v1::PRODUCT_ROLE_SPECIFIC && claimed[h.observation]) continue;
          hits.push_back(h);
        }
      }
      v1::Finding finding;
      if (!BuildFinding(product, hits, observations, &finding)) continue;
      for (const auto& h : hits) claimed[h.observation] = true;
      findings.push_back(std::move(finding));
    }
  }
  NoteSuccessors(rules, &findings);
  std::stable_sort(findings.begin(), findings.end(), [](const v1::Finding& a, const v1::Finding& b) {
    return StateRank(a.state()) > StateRank(b.state());
  });
  return findings;
}

v1::Verdict VerdictFromState(v1::ProductState state) {
  switch (state) {
    case v1::PRODUCT_STATE_RUNNING: return v1::VERDICT_RUNNING;
    case v1::PRODUCT_STATE_INSTALLED: return v1::VERDICT_INSTALLED;
    case v1::PRODUCT_STATE_REMNANT: return v1::VERDICT_REMNANT;
    default: return v1::VERDICT_CLEAN;
  }
}

v1::Verdict VerdictOf(const std::vector<v1::Finding>& findings) {
  v1::ProductState strongest = v1::PRODUCT_STATE_UNSPECIFIED;
  for (const auto& f : findings) {
    if (StateRank(f.state()) > StateRank(strongest)) strongest = f.state();
  }
  return VerdictFromState(strongest);
}

}  // namespace ksweep::agent
