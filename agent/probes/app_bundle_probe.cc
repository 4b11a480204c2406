// macOS applications: the bundles in /Applications, in its vendor folders one level down (/Applications/Utilities,
// "/Applications/Kaspersky Lab/..."), each named by its Info.plist's CFBundleIdentifier.
#include "agent/probe_registry.h"
#include "agent/probes/macos_files.h"

namespace ksweep::agent {
namespace {

constexpr std::string_view kApplications = "/Applications";

class AppBundleProbe final : public Probe {
 public:
  std::string_view name() const override { return "app_bundles"; }

  ProbeResult Run(const ProbeContext& ctx) override {
    ProbeResult result;
    FileFailures failures;
    std::vector<std::string> bundles;
    for (const auto& e : ListFolder(ctx.root, kApplications, &failures)) {
      const std::string path = std::string(kApplications) + "/" + e.name;
      if (HasSuffix(e.name, ".app")) {
        bundles.push_back(path);
        continue;
      }
      // A vendor folder ("/Applications/Utilities", "/Applications/Kaspersky Lab"): its bundles, one level down.
      if (auto info = ctx.root.Stat(path); !info.ok() || !info->is_dir) continue;
      for (auto& b : EntriesWithSuffix(ctx.root, path, ".app", &failures)) bundles.push_back(std::move(b));
    }
    for (const auto& bundle : bundles) {
      ++result.items;
      auto info = ReadBundleInfo(ctx.root, bundle);
      if (!info.ok()) {
        if (info.status().code() == Status::Code::kNotFound) {
          result.warnings.push_back(ctx.root.Display(bundle) + ": no Contents/Info.plist");
        } else {
          failures.Add(info.status());
        }
        continue;
      }
      if (info->id.empty()) {
        result.warnings.push_back(ctx.root.Display(info->plist_path) + ": no CFBundleIdentifier");
        continue;
      }
      Observation o;
      o.kind = ObservationKind::kAppBundle;
      o.evidence_kind = v1::EVIDENCE_KIND_APP_BUNDLE;
      o.name = info->id;
      o.version = info->version;
      o.vendor = info->copyright;
      o.path = ctx.root.Display(bundle);
      o.image = o.path;
      o.detail = "app " + o.path + ", " + info->id + (info->version.empty() ? "" : " " + info->version) +
                 " (Info.plist, " + info->format + ")";
      result.observations.push_back(std::move(o));
    }
    result.status = failures.ToStatus(static_cast<size_t>(result.items));
    return result;
  }
};

}  // namespace

ProbePtr MakeAppBundleProbe() { return std::make_unique<AppBundleProbe>(); }

}  // namespace ksweep::agent
