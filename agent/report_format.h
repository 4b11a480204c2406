// How a HostReport is shown: a table for people, the proto JSON mapping for scripts.
#pragma once

#include <string>

#include "ksweep/v1/report.pb.h"

namespace ksweep::agent {

std::string FormatReportTable(const v1::HostReport& report, bool verbose);
std::string FormatReportJson(const v1::HostReport& report);

// "RUNNING", "INSTALLED", ... without the proto prefix.
std::string ShortName(v1::Verdict verdict);
std::string ShortName(v1::ProductState state);

}  // namespace ksweep::agent
