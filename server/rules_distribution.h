// The detection rules the collector hands to agents (`serve --rules FILE`): loaded and checked at start-up, sent to
// an agent whose Hello reports another rules version, re-read on SIGHUP. Thread-safe: streams read the current set
// from gRPC threads while a reload replaces it.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "common/protocol.h"
#include "common/status.h"
#include "ksweep/v1/agent.pb.h"

namespace ksweep::server {

class RulesDistribution {
 public:
  // Reads `path` with the agent's loader (common/rules.h). Errors name the file and what is wrong: unreadable, not
  // valid rules, no version (agents are compared by it), or too large for an agent to receive.
  static Result<std::unique_ptr<RulesDistribution>> Load(const std::string& path);

  const std::string& path() const { return path_; }
  std::string version() const;

  // The CollectorMessage carrying the rules when `agent_rules_version` is not theirs; null when the agent has them.
  std::shared_ptr<const v1::CollectorMessage> ForAgent(const std::string& agent_rules_version) const;

  // Re-reads the file. On success the new set is what ForAgent hands out and the previous version is returned; on
  // failure the current set stays and the error says why.
  Result<std::string> Reload();

 private:
  explicit RulesDistribution(std::string path) : path_(std::move(path)) {}
  static Result<std::shared_ptr<const v1::CollectorMessage>> Read(const std::string& path);

  const std::string path_;
  mutable std::mutex mu_;
  std::shared_ptr<const v1::CollectorMessage> message_;  // guarded by mu_; never null after Load
};

}  // namespace ksweep::server
