// Loaded kernel modules from /proc/modules. Only the live root has a running kernel.
#include "agent/probe_registry.h"

namespace ksweep::agent {
namespace {

constexpr std::string_view kModules = "/proc/modules";

class KernelModuleProbe final : public Probe {
 public:
  std::string_view name() const override { return "kernel_modules"; }

  ProbeResult Run(const ProbeContext& ctx) override {
    ProbeResult result;
    if (!ctx.root.live()) {
      result.status = Status::Unavailable("not the live root: no loaded kernel modules to inspect");
      return result;
    }
    auto text = ctx.root.ReadFile(kModules, 16 * 1024 * 1024);
    if (!text.ok()) {
      // Kernels built without module support have no /proc/modules: nothing loaded, not a failure.
      result.status = text.status().code() == Status::Code::kNotFound
                          ? Status::Unavailable("no /proc/modules (kernel without loadable modules)")
                          : text.status();
      return result;
    }
    std::string_view rest = *text;
    while (!rest.empty()) {
      const size_t nl = rest.find('\n');
      const std::string_view line = rest.substr(0, nl);
      rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
      const size_t sp = line.find(' ');
      if (line.empty() || sp == 0) continue;
      ++result.items;
      Observation o;
      o.kind = ObservationKind::kKernelModule;
      o.evidence_kind = v1::EVIDENCE_KIND_KERNEL_MODULE;
      o.name = std::string(line.substr(0, sp));
      o.path = std::string(kModules);
      o.detail = "kernel module " + o.name + " loaded";
      result.observations.push_back(std::move(o));
    }
    result.status = Status::Ok();
    return result;
  }
};

}  // namespace

ProbePtr MakeKernelModuleProbe() { return std::make_unique<KernelModuleProbe>(); }

}  // namespace ksweep::agent
