#include "agent/daemon/rules_store.h"

#include <google/protobuf/util/json_util.h>

#include <cstdio>

#include "common/atomic_file.h"
#include "common/rules.h"

namespace ksweep::agent {
namespace {

// The loader's own limit for a rules file (common/rules.cc); a pushed set is at most the agent's 4 MiB message limit,
// whose JSON is a few times larger at worst.
constexpr size_t kMaxPersistedRulesBytes = size_t{16} << 20;

}  // namespace

std::string PersistedRulesPath(const std::string& state_dir) { return state_dir + "/" + kRulesFileName; }

Status ValidatePushedRules(const v1::RuleSet& rules) {
  constexpr std::string_view kOrigin = "rules from the collector";
  if (Status status = ValidateRules(rules, kOrigin); !status.ok()) return status;
  return RequireVersion(rules, kOrigin);
}

std::optional<v1::RuleSet> LoadPersistedRules(const std::string& state_dir, const LoggerPtr& log) {
  const std::string path = PersistedRulesPath(state_dir);
  auto text = ReadSmallFile(path, kMaxPersistedRulesBytes);
  if (!text.ok() && text.status().code() == Status::Code::kNotFound) return std::nullopt;
  Status problem = text.status();
  if (text.ok()) {
    auto rules = ParseRules(*text, path);
    problem = rules.ok() ? RequireVersion(*rules, path) : rules.status();
    if (problem.ok()) return std::move(*rules);
  }
  const std::string aside = path + ".corrupt";
  const bool moved = std::rename(path.c_str(), aside.c_str()) == 0;
  log->warn("event=state_file_corrupt path={} reason=\"{}\" moved_to={}", path, problem.message(),
            moved ? aside : "(not moved)");
  return std::nullopt;
}

Status PersistRules(const std::string& state_dir, const v1::RuleSet& rules) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;  // for a person to read, or to scan with: `ksweep-agent scan --rules FILE`
  const auto status = google::protobuf::util::MessageToJsonString(rules, &json, options);
  if (!status.ok()) {
    return Status::Internal("rules version '" + rules.version() + "': cannot write as JSON: " +
                            std::string(status.message()));
  }
  return WriteFileAtomic(PersistedRulesPath(state_dir), json);
}

}  // namespace ksweep::agent
