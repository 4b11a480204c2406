// macOS kernel extensions on disk: /Library/Extensions (third-party kexts since 10.9) and
// /System/Library/Extensions (where older installers, Kaspersky's klif.kext among them, put theirs); and their
// successors since macOS 10.15, system extensions, which macOS copies to /Library/SystemExtensions/<UUID>/ when an
// app activates them. Each is named by its Info.plist's CFBundleIdentifier, and KERNEL_EXTENSION rules match both.
// On disk only: whether one is loaded or enabled is for a live agent to say.
#include "agent/probe_registry.h"
#include "agent/probes/macos_files.h"

namespace ksweep::agent {
namespace {

constexpr std::string_view kExtensionFolders[] = {"/Library/Extensions", "/System/Library/Extensions"};
constexpr std::string_view kSystemExtensions = "/Library/SystemExtensions";

class KernelExtensionProbe final : public Probe {
 public:
  std::string_view name() const override { return "kernel_extensions"; }

  ProbeResult Run(const ProbeContext& ctx) override {
    ProbeResult result;
    FileFailures failures;
    std::vector<std::pair<std::string, std::string_view>> bundles;  // path, what it is
    for (const auto folder : kExtensionFolders) {
      for (auto& kext : EntriesWithSuffix(ctx.root, folder, ".kext", &failures)) {
        bundles.emplace_back(std::move(kext), "kernel extension");
      }
    }
    for (const auto& e : ListFolder(ctx.root, kSystemExtensions, &failures)) {
      const std::string folder = std::string(kSystemExtensions) + "/" + e.name;
      if (auto info = ctx.root.Stat(folder); !info.ok() || !info->is_dir) continue;  // db.plist
      for (auto& ext : EntriesWithSuffix(ctx.root, folder, ".systemextension", &failures)) {
        bundles.emplace_back(std::move(ext), "system extension");
      }
    }
    ObserveBundles(ctx.root, bundles, ObservationKind::kKernelExtension, v1::EVIDENCE_KIND_KERNEL_EXTENSION,
                   &failures, &result);
    result.status = failures.ToStatus(static_cast<size_t>(result.items));
    return result;
  }
};

}  // namespace

ProbePtr MakeKernelExtensionProbe() { return std::make_unique<KernelExtensionProbe>(); }

}  // namespace ksweep::agent
