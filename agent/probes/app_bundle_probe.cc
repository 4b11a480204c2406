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
    std::vector<std::pair<std::string, std::string_view>> bundles;  // path, what it is
    for (const auto& e : ListFolder(ctx.root, kApplications, &failures)) {
      const std::string path = std::string(kApplications) + "/" + e.name;
      if (HasSuffix(e.name, ".app")) {
        bundles.emplace_back(path, "app");
        continue;
      }
      // A vendor folder ("/Applications/Utilities", "/Applications/Kaspersky Lab"): its bundles, one level down.
      if (auto info = ctx.root.Stat(path); !info.ok() || !info->is_dir) continue;
      for (auto& b : EntriesWithSuffix(ctx.root, path, ".app", &failures)) bundles.emplace_back(std::move(b), "app");
    }
    ObserveBundles(ctx.root, bundles, ObservationKind::kAppBundle, v1::EVIDENCE_KIND_APP_BUNDLE, &failures, &result);
    result.status = failures.ToStatus(static_cast<size_t>(result.items));
    return result;
  }
};

}  // namespace

ProbePtr MakeAppBundleProbe() { return std::make_unique<AppBundleProbe>(); }

}  // namespace ksweep::agent
