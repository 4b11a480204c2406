// Install folders, data and log folders, binaries: looks only where the rules point (PATH and BINARY signals).
#include <set>

#include "agent/probe_registry.h"
#include "agent/sha256.h"
#include "common/glob.h"

namespace ksweep::agent {
namespace {

constexpr size_t kMaxHashBytes = 1024ull * 1024 * 1024;

class PathProbe final : public Probe {
 public:
  std::string_view name() const override { return "paths"; }

  ProbeResult Run(const ProbeContext& ctx) override {
    ProbeResult result;
    std::set<std::string> hash_wanted;  // paths named by BINARY signals
    std::set<std::string> patterns;
    for (const auto& product : ctx.rules.products()) {
      if (product.platform() != ctx.root.platform()) continue;
      for (const auto& s : product.signals()) {
        if (s.kind() != v1::SIGNAL_KIND_PATH && s.kind() != v1::SIGNAL_KIND_BINARY) continue;
        patterns.insert(s.pattern());
        if (s.kind() == v1::SIGNAL_KIND_BINARY) hash_wanted.insert(s.pattern());
      }
    }
    std::set<std::string> seen;
    for (const auto& pattern : patterns) {
      for (const auto& path : Expand(ctx, pattern, &result.warnings)) {
        ++result.items;
        if (!seen.insert(path).second) continue;
        auto info = ctx.root.Stat(path);
        if (!info.ok()) {
          if (info.status().code() != Status::Code::kNotFound) result.warnings.push_back(info.status().message());
          continue;
        }
        Observation o;
        o.kind = ObservationKind::kPath;
        o.name = path;
        o.path = ctx.root.Display(path);
        o.is_dir = info->is_dir;
        o.executable = info->is_regular && info->executable;
        if (info->is_regular && hash_wanted.count(pattern) != 0) {
          auto digest = Sha256File(ctx.root, path, kMaxHashBytes);
          if (digest.ok()) {
            o.sha256 = *digest;
          } else {
            result.warnings.push_back("sha256 of " + path + ": " + digest.status().message());
          }
        }
        o.evidence_kind = o.sha256.empty() ? v1::EVIDENCE_KIND_PATH : v1::EVIDENCE_KIND_BINARY;
        o.detail = std::string(o.is_dir ? "folder " : "file ") + o.path + " exists" +
                   (o.sha256.empty() ? "" : ", sha256 " + o.sha256);
        result.observations.push_back(std::move(o));
      }
    }
    result.status = Status::Ok();
    return result;
  }

 private:
  // A pattern may hold wildcards in its last component only (the rules loader checks this).
  static std::vector<std::string> Expand(const ProbeContext& ctx, const std::string& pattern,
                                         std::vector<std::string>* warnings) {
    if (!HasGlobMeta(pattern)) return {pattern};
    const size_t slash = pattern.rfind('/');
    const std::string dir = slash == 0 ? "/" : pattern.substr(0, slash);
    const std::string leaf = pattern.substr(slash + 1);
    auto entries = ctx.root.ListDir(dir);
    if (!entries.ok()) {
      if (entries.status().code() != Status::Code::kNotFound) warnings->push_back(entries.status().message());
      return {};
    }
    std::vector<std::string> out;
    for (const auto& e : *entries) {
      if (GlobMatch(leaf, e.name, ctx.root.case_insensitive())) out.push_back((dir == "/" ? "" : dir) + "/" + e.name);
    }
    return out;
  }
};

}  // namespace

ProbePtr MakePathProbe() { return std::make_unique<PathProbe>(); }

}  // namespace ksweep::agent
