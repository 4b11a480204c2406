// macOS launchd jobs installed for the whole machine: /Library/LaunchDaemons (system daemons) and
// /Library/LaunchAgents (agents started in every user session), each named by its plist's Label.
#include "agent/probe_registry.h"
#include "agent/probes/macos_files.h"

namespace ksweep::agent {
namespace {

constexpr std::pair<std::string_view, std::string_view> kJobFolders[] = {
    {"/Library/LaunchDaemons", "daemon"},
    {"/Library/LaunchAgents", "agent"},
};

class LaunchdProbe final : public Probe {
 public:
  std::string_view name() const override { return "launchd_jobs"; }

  ProbeResult Run(const ProbeContext& ctx) override {
    ProbeResult result;
    FileFailures failures;
    for (const auto& [folder, what] : kJobFolders) {
      for (const auto& file : EntriesWithSuffix(ctx.root, folder, ".plist", &failures)) {
        ++result.items;
        auto plist = ReadPlist(ctx.root, file);
        if (!plist.ok()) {
          failures.Add(plist.status());
          continue;
        }
        const PlistNode job = plist->root();
        Observation o;
        o.kind = ObservationKind::kLaunchdJob;
        o.evidence_kind = v1::EVIDENCE_KIND_LAUNCHD_JOB;
        o.path = ctx.root.Display(file);
        o.name = job.Get("Label").AsString().value_or("");
        if (o.name.empty()) {
          // launchd refuses a job without a Label; the file name is what such a file is known by.
          std::string_view base = BaseName(file);
          base.remove_suffix(std::string_view(".plist").size());
          o.name = std::string(base);
          result.warnings.push_back(o.path + ": no Label, named by its file");
        }
        o.image = job.Get("Program").AsString().value_or("");
        if (o.image.empty()) o.image = job.Get("ProgramArguments").At(0).AsString().value_or("");
        const bool disabled = job.Get("Disabled").AsBool().value_or(false);
        o.detail = "launchd " + std::string(what) + " " + o.name + " (" + o.path + ", " +
                   std::string(plist->format()) + ")" + (o.image.empty() ? "" : " runs " + o.image) +
                   (disabled ? ", disabled" : "");
        result.observations.push_back(std::move(o));
      }
    }
    result.status = failures.ToStatus(static_cast<size_t>(result.items));
    return result;
  }
};

}  // namespace

ProbePtr MakeLaunchdProbe() { return std::make_unique<LaunchdProbe>(); }

}  // namespace ksweep::agent
