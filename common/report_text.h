// How parts of a report read to a person, the same in `ksweep-agent scan` and in `ksweep host`: what a record
// (an Uninstall entry, a service, a bundle) says about itself, and why a verdict is incomplete.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ksweep/v1/report.pb.h"

namespace ksweep {

// Evidence from a record that names itself (REGISTRY_KEY .. KERNEL_EXTENSION): its name, version and publisher
// are what the record says, and its path is where it is (a registry key, a bundle folder).
bool IsRecordEvidence(v1::EvidenceKind kind);

// "'Kaspersky Endpoint Security for Windows' 11.11.0.452, publisher 'AO Kaspersky Lab'": the record's own fields,
// the name left out when it is the path itself (a registry key). Empty when the record has none of them.
std::string DescribeRecord(const v1::Evidence& evidence);

// A record as both views print it: where it is (its path, else its name) and what it says (DescribeRecord, else the
// agent's own line for it; for services, drivers and launchd jobs that line first: it names the image and start).
struct RecordText {
  std::string where;
  std::string what;
};
RecordText RecordTextOf(const v1::Evidence& evidence);

// "incomplete: probe installed_programs failed", "incomplete: probes a, b failed"; "incomplete" without names.
std::string IncompleteNote(const std::vector<std::string>& failed_probes);

// The probes of `report` that failed, by name, in report order.
std::vector<std::string> FailedProbeNames(const v1::HostReport& report);

}  // namespace ksweep
