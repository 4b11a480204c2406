// Rules the collector pushed, kept in the state folder (STATE/rules.json, the JSON mapping of v1::RuleSet, the
// format of `--rules FILE`) so that a restarted agent keeps using them and its Hello reports their version: the
// collector then has no reason to send them again. The file is replaced whole (atomic_file.h).
#pragma once

#include <optional>
#include <string>

#include "common/logging.h"
#include "common/status.h"
#include "ksweep/v1/rules.pb.h"

namespace ksweep::agent {

inline constexpr char kRulesFileName[] = "rules.json";

// STATE/rules.json
std::string PersistedRulesPath(const std::string& state_dir);

// What the agent accepts from a collector: rules that pass ValidateRules (at least one product, every signal
// well-formed) and carry a version, which is how the collector tells whether an agent has them.
Status ValidatePushedRules(const v1::RuleSet& rules);

// The persisted rules, or nullopt when there are none. A file that cannot be read or is not valid rules is set aside
// as rules.json.corrupt with a `state_file_corrupt` log line: never fatal, the caller falls back to its own rules.
std::optional<v1::RuleSet> LoadPersistedRules(const std::string& state_dir, const LoggerPtr& log);

// Writes `rules` as STATE/rules.json, atomically: a crash leaves the old file or the new one.
Status PersistRules(const std::string& state_dir, const v1::RuleSet& rules);

}  // namespace ksweep::agent
