// Rules x observations -> findings. Pure: no I/O, so tests feed it observations directly.
#pragma once

#include <vector>

#include "agent/observation.h"
#include "ksweep/v1/report.pb.h"
#include "ksweep/v1/rules.pb.h"

namespace ksweep::agent {

// One finding per product of `platform` with at least one STRONG signal matched. Weak signals are attached as
// corroboration but never create a finding nor raise its state. RUNNING evidence counts only when `live` (the host's
// own root).
std::vector<v1::Finding> Detect(const v1::RuleSet& rules, const Observations& observations, bool live,
                                v1::Platform platform);

// Strongest state over findings, or CLEAN.
v1::Verdict VerdictOf(const std::vector<v1::Finding>& findings);

v1::Verdict VerdictFromState(v1::ProductState state);

}  // namespace ksweep::agent
