#include "common/report_text.h"

namespace ksweep {

bool IsRecordEvidence(v1::EvidenceKind kind) {
  return kind >= v1::EVIDENCE_KIND_REGISTRY_KEY && kind <= v1::EVIDENCE_KIND_KERNEL_EXTENSION;
}

std::string DescribeRecord(const v1::Evidence& e) {
  std::string out;
  if (!e.name().empty() && e.name() != e.path()) out = "'" + e.name() + "'";
  if (!e.version().empty()) out += (out.empty() ? "" : " ") + e.version();
  if (!e.publisher().empty()) out += (out.empty() ? "" : ", ") + std::string("publisher '") + e.publisher() + "'";
  return out;
}

RecordText RecordTextOf(const v1::Evidence& e) {
  // A service, driver or launchd job is more than its name and version: the agent's line also has its image (or
  // program), its start mode and, for drivers, the image's company.
  const bool runs_something = e.kind() == v1::EVIDENCE_KIND_WINDOWS_SERVICE ||
                              e.kind() == v1::EVIDENCE_KIND_WINDOWS_DRIVER || e.kind() == v1::EVIDENCE_KIND_LAUNCHD_JOB;
  if (runs_something && !e.detail().empty()) return {e.path().empty() ? e.name() : e.path(), e.detail()};
  std::string says = DescribeRecord(e);
  return {e.path().empty() ? e.name() : e.path(), says.empty() ? e.detail() : std::move(says)};
}

std::string IncompleteNote(const std::vector<std::string>& failed_probes) {
  if (failed_probes.empty()) return "incomplete";
  std::string names;
  for (const auto& name : failed_probes) names += (names.empty() ? "" : ", ") + name;
  return std::string("incomplete: ") + (failed_probes.size() == 1 ? "probe " : "probes ") + names + " failed";
}

std::vector<std::string> FailedProbeNames(const v1::HostReport& report) {
  std::vector<std::string> out;
  for (const auto& p : report.probes()) {
    if (p.state() == v1::PROBE_STATE_FAILED) out.push_back(p.name());
  }
  return out;
}

}  // namespace ksweep
