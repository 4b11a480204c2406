#include "agent/report_format.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cctype>
#include <sstream>

#include "common/platform.h"
#include "common/report_text.h"

namespace ksweep::agent {
namespace {

std::string StripPrefix(const std::string& name, std::string_view prefix) {
  return name.starts_with(prefix) ? name.substr(prefix.size()) : name;
}

std::string EvidenceKindName(v1::EvidenceKind k) {
  return StripPrefix(v1::EvidenceKind_Name(k), "EVIDENCE_KIND_");
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "Debian GNU/Linux 12" and "Windows 10 Pro" say their platform; an OS name that could not be read does not.
bool NamesPlatform(const std::string& os_name, v1::Platform platform) {
  const std::string name = Lower(os_name);
  return name.find(Lower(std::string(PlatformLabel(platform)))) != std::string::npos ||
         (platform == v1::PLATFORM_MACOS && (name.find("mac os") != std::string::npos));
}

// The agent's line for most evidence; for a record, where it is and what it says about itself (as `ksweep host`).
std::string EvidenceText(const v1::Evidence& e) {
  if (!IsRecordEvidence(e.kind())) return e.detail();
  const RecordText record = RecordTextOf(e);
  return record.what.empty() ? record.where : record.where + "  " + record.what;
}

}  // namespace

std::string ShortName(v1::Verdict verdict) { return StripPrefix(v1::Verdict_Name(verdict), "VERDICT_"); }
std::string ShortName(v1::ProductState state) {
  return StripPrefix(v1::ProductState_Name(state), "PRODUCT_STATE_");
}

std::string FormatReportTable(const v1::HostReport& report, bool verbose) {
  std::ostringstream out;
  const auto& h = report.host();
  out << "Host     " << (h.hostname().empty() ? "(unknown)" : h.hostname()) << "  id " << h.host_id() << "\n";
  const std::string os_name = h.os().pretty_name().empty() ? h.os().name() : h.os().pretty_name();
  out << "OS       " << os_name;
  if (h.platform() != v1::PLATFORM_UNSPECIFIED && !NamesPlatform(os_name, h.platform())) {
    out << (os_name.empty() ? "" : "  ") << "(" << PlatformLabel(h.platform()) << ")";
  }
  if (!h.kernel().empty()) out << "  kernel " << h.kernel();
  if (!h.arch().empty()) out << "  " << h.arch();
  out << "\n";
  if (h.root() != "/") out << "Root     " << h.root() << "\n";
  out << "Verdict  " << ShortName(report.verdict());
  if (report.incomplete()) out << " (" << IncompleteNote(FailedProbeNames(report)) << ")";
  out << "\n";

  if (report.findings().empty()) {
    out << "\nNo Kaspersky product found.\n";
  } else {
    size_t w_id = 7;
    size_t w_state = 5;
    size_t w_ver = 7;
    for (const auto& f : report.findings()) {
      w_id = std::max(w_id, f.product_id().size());
      w_state = std::max(w_state, ShortName(f.state()).size() + (f.broken() ? 9 : 0));
      w_ver = std::max(w_ver, f.version().size());
    }
    auto pad = [](const std::string& s, size_t w) { return s + std::string(w > s.size() ? w - s.size() : 0, ' '); };
    out << "\n" << pad("PRODUCT", w_id) << "  " << pad("STATE", w_state) << "  " << pad("VERSION", w_ver)
        << "  NAME\n";
    for (const auto& f : report.findings()) {
      const std::string state = ShortName(f.state()) + (f.broken() ? " (broken)" : "");
      out << pad(f.product_id(), w_id) << "  " << pad(state, w_state) << "  "
          << pad(f.version().empty() ? "-" : f.version(), w_ver) << "  " << f.product_name();
      if (!f.note().empty()) out << "  (" << f.note() << ")";
      out << "\n";
      for (const auto& e : f.evidence()) {
        out << "    " << (e.strength() == v1::STRENGTH_WEAK ? "(weak) " : "") << EvidenceKindName(e.kind()) << ": "
            << EvidenceText(e);
        if (e.confidence() == v1::CONFIDENCE_INFERRED) out << "  [rule inferred, unconfirmed]";
        out << "\n";
      }
    }
  }
  if (verbose) {
    out << "\nProbes\n";
    for (const auto& p : report.probes()) {
      out << "  " << p.name() << ": " << StripPrefix(v1::ProbeState_Name(p.state()), "PROBE_STATE_") << ", "
          << p.items() << " items, " << p.duration_us() << " us" << (p.message().empty() ? "" : " (" + p.message() + ")")
          << "\n";
    }
  }
  if (!report.warnings().empty()) {
    out << "\nWarnings\n";
    for (const auto& w : report.warnings()) out << "  " << w << "\n";
  }
  return out.str();
}

std::string FormatReportJson(const v1::HostReport& report) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = false;
  (void)google::protobuf::util::MessageToJsonString(report, &json, options);
  return json;
}

}  // namespace ksweep::agent
