#include "agent/daemon/report_compare.h"

#include <google/protobuf/util/message_differencer.h>

namespace ksweep::agent {
namespace {

v1::HostReport WithoutRunDetails(const v1::HostReport& report) {
  v1::HostReport copy = report;
  copy.clear_scanned_at();
  for (auto& probe : *copy.mutable_probes()) {
    probe.clear_duration_us();
    probe.clear_items();
  }
  return copy;
}

}  // namespace

bool SameContent(const v1::HostReport& a, const v1::HostReport& b) {
  return google::protobuf::util::MessageDifferencer::Equals(WithoutRunDetails(a), WithoutRunDetails(b));
}

}  // namespace ksweep::agent
