#include "server/rules_distribution.h"

#include "common/rules.h"

namespace ksweep::server {

Result<std::shared_ptr<const v1::CollectorMessage>> RulesDistribution::Read(const std::string& path) {
  auto rules = LoadRulesFile(path);
  if (!rules.ok()) return rules.status();
  if (Status status = RequireVersion(*rules, path); !status.ok()) return status;
  auto message = std::make_shared<v1::CollectorMessage>();
  *message->mutable_rules() = std::move(*rules);
  const size_t bytes = message->ByteSizeLong();
  if (bytes > kAgentMaxReceiveBytes) {
    return Status::InvalidArgument(path + ": " + std::to_string(bytes) + " bytes as a message, more than the " +
                                   std::to_string(kAgentMaxReceiveBytes) + " an agent accepts");
  }
  return std::shared_ptr<const v1::CollectorMessage>(std::move(message));
}

Result<std::unique_ptr<RulesDistribution>> RulesDistribution::Load(const std::string& path) {
  auto message = Read(path);
  if (!message.ok()) return message.status();
  std::unique_ptr<RulesDistribution> rules(new RulesDistribution(path));
  rules->message_ = std::move(*message);
  return rules;
}

std::string RulesDistribution::version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return message_->rules().version();
}

std::shared_ptr<const v1::CollectorMessage> RulesDistribution::ForAgent(const std::string& agent_rules_version) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (message_->rules().version() == agent_rules_version) return nullptr;
  return message_;
}

Result<std::string> RulesDistribution::Reload() {
  auto message = Read(path_);
  if (!message.ok()) return message.status();
  std::lock_guard<std::mutex> lock(mu_);
  std::string previous = message_->rules().version();
  message_ = std::move(*message);
  return previous;
}

}  // namespace ksweep::server
