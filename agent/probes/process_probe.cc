// Running processes: /proc/PID/comm and the /proc/PID/exe link. Only the live root has processes to look at.
#include <unistd.h>

#include <cerrno>

#include "agent/probe_registry.h"
#include "agent/probes/proc_entry.h"

namespace ksweep::agent {
namespace {

class ProcessProbe final : public Probe {
 public:
  std::string_view name() const override { return "processes"; }

  ProbeResult Run(const ProbeContext& ctx) override {
    ProbeResult result;
    if (!ctx.root.live()) {
      result.status = Status::Unavailable("not the live root: no processes to inspect");
      return result;
    }
    auto entries = ctx.root.ListDir(kProcDir);
    if (!entries.ok()) {
      result.status = entries.status();
      return result;
    }
    for (const auto& e : *entries) {
      const int pid = PidOf(e.name);
      if (pid < 0) continue;
      const std::string base = std::string(kProcDir) + "/" + e.name;
      auto comm = ctx.root.ReadFile(base + "/comm", 256);
      if (!comm.ok()) continue;  // the process exited meanwhile
      ++result.items;
      std::string name(CommName(*comm));
      Observation o;
      o.kind = ObservationKind::kProcess;
      o.evidence_kind = v1::EVIDENCE_KIND_PROCESS;
      o.pid = pid;
      o.path = base;
      char exe[4096];
      // Readable for every process only with CAP_SYS_PTRACE; without it the name still counts.
      const ssize_t n = ::readlink((base + "/exe").c_str(), exe, sizeof exe - 1);
      if (n > 0) {
        o.exe.assign(exe, static_cast<size_t>(n));
        constexpr std::string_view kDeleted = " (deleted)";
        if (o.exe.ends_with(kDeleted)) o.exe.resize(o.exe.size() - kDeleted.size());
      }
      o.detail = "process " + name + " pid " + e.name + (o.exe.empty() ? "" : " exe " + o.exe);
      o.name = std::move(name);
      result.observations.push_back(std::move(o));
    }
    result.status = Status::Ok();
    return result;
  }
};

}  // namespace

ProbePtr MakeProcessProbe() { return std::make_unique<ProcessProbe>(); }

}  // namespace ksweep::agent
