// Loading and validating detection rules (proto/ksweep/v1/rules.proto, JSON mapping).
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "ksweep/v1/rules.pb.h"

namespace ksweep {

// Parses and validates a rules document. `origin` names it in errors (a file path, "built-in rules").
// Refuses unknown fields, missing or duplicate ids, bad patterns and regexes, naming the field and the reason.
Result<v1::RuleSet> ParseRules(std::string_view json, std::string_view origin);

Result<v1::RuleSet> LoadRulesFile(const std::string& path);

// The Kaspersky rules compiled into the binaries (common/rules/kaspersky.rules.json).
std::string_view BuiltinRulesJson();
Result<v1::RuleSet> BuiltinRules();

// Checks what the JSON schema cannot: the semantics of every field. Returns the first problem found.
Status ValidateRules(const v1::RuleSet& rules, std::string_view origin);

// Rules the collector hands to agents must carry a version: the collector and its agents compare rule sets by it
// alone (collector --rules, pushed rules, the agent's persisted copy).
Status RequireVersion(const v1::RuleSet& rules, std::string_view origin);

}  // namespace ksweep
