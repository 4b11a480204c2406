// macOS kernel extensions on disk: /Library/Extensions (third-party kexts since 10.9) and
// /System/Library/Extensions (where older installers, Kaspersky's klif.kext among them, put theirs), each named by
// its Info.plist's CFBundleIdentifier. On disk only: whether a kext is loaded is for a live agent to say.
#include "agent/probe_registry.h"
#include "agent/probes/macos_files.h"

namespace ksweep::agent {
namespace {

constexpr std::string_view kExtensionFolders[] = {"/Library/Extensions", "/System/Library/Extensions"};

class KernelExtensionProbe final : public Probe {
 public:
  std::string_view name() const override { return "kernel_extensions"; }

  ProbeResult Run(const ProbeContext& ctx) override {
    ProbeResult result;
    FileFailures failures;
    for (const auto folder : kExtensionFolders) {
      for (const auto& kext : EntriesWithSuffix(ctx.root, folder, ".kext", &failures)) {
        ++result.items;
        auto info = ReadBundleInfo(ctx.root, kext);
        if (!info.ok()) {
          if (info.status().code() == Status::Code::kNotFound) {
            result.warnings.push_back(ctx.root.Display(kext) + ": no Contents/Info.plist");
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
        o.kind = ObservationKind::kKernelExtension;
        o.evidence_kind = v1::EVIDENCE_KIND_KERNEL_EXTENSION;
        o.name = info->id;
        o.version = info->version;
        o.vendor = info->copyright;
        o.path = ctx.root.Display(kext);
        o.image = o.path;
        o.detail = "kernel extension " + o.path + ", " + info->id +
                   (info->version.empty() ? "" : " " + info->version) + " (Info.plist, " + info->format + ")";
        result.observations.push_back(std::move(o));
      }
    }
    result.status = failures.ToStatus(static_cast<size_t>(result.items));
    return result;
  }
};

}  // namespace

ProbePtr MakeKernelExtensionProbe() { return std::make_unique<KernelExtensionProbe>(); }

}  // namespace ksweep::agent
