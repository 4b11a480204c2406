// AgentService: one long-lived bidirectional stream per agent, on the gRPC callback API. Reactions never block and
// never touch the database: reports go to the store's writer, and the Ack is written from its after-COMMIT callback.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/logging.h"
#include "ksweep/v1/agent.grpc.pb.h"
#include "server/clock.h"
#include "server/pki/authority.h"
#include "server/rules_distribution.h"
#include "server/store/store.h"

namespace ksweep::server {

// Every limit of the agent side, explicit. Defaults suit a fleet of agents reporting on change and heartbeating.
struct AgentLimits {
  int max_receive_message_bytes = 4 * 1024 * 1024;  // larger: RESOURCE_EXHAUSTED from gRPC itself
  int max_findings_per_report = 1000;               // more: INVALID_ARGUMENT, stream closed
  int max_evidence_per_finding = 256;               // more: INVALID_ARGUMENT, stream closed
  int max_labels = 64;
  int max_host_field_bytes = 1024;                  // host id, hostname, any label
  // Token bucket over every message after Hello: `burst` at once, refilled at `messages_per_second`.
  // Exceeded: RESOURCE_EXHAUSTED, stream closed; other agents are unaffected.
  double messages_per_second = 5;
  double message_burst = 50;
  int max_inflight_reports = 16;  // unacknowledged reports per stream; past it the stream is not read (backpressure)
  int64_t idle_timeout_seconds = 300;  // no message for this long: DEADLINE_EXCEEDED, stream closed
  uint32_t heartbeat_interval_seconds = 60;  // told to agents in Welcome
  // HTTP/2 keepalive: find dead peers behind NAT on long idle streams.
  int keepalive_time_ms = 60'000;
  int keepalive_timeout_ms = 20'000;
  int keepalive_min_ping_interval_ms = 10'000;  // agents may ping this often without data
};

class AgentStream;
struct StreamState;

// Streams by id and by host: ScanNow delivery, connected flags, idle time-outs and draining at shutdown.
class StreamRegistry {
 public:
  uint64_t Add(std::shared_ptr<StreamState> stream);
  void Remove(uint64_t id);
  void SetHost(uint64_t id, const std::string& host_id);

  bool Connected(const std::string& host_id) const;
  // Queues `msg` on the host's newest stream; false when the host has none.
  bool Send(const std::string& host_id, const v1::CollectorMessage& msg);
  // Closes streams silent for longer than `idle_timeout_seconds`. Returns how many.
  int CloseIdle(int64_t now_steady_us, int64_t idle_timeout_seconds);
  // Every stream finishes with `status` once its in-flight acks are written.
  void DrainAll(const grpc::Status& status);
  // Ends every stream whose client certificate names `host_id` (revocation). Returns how many.
  int DropIdentity(const std::string& host_id, const grpc::Status& status);
  // Sends `rules` to every welcomed stream whose agent last reported other rules (after a reload). Returns how many.
  int SendRules(const RulesDistribution& rules, const LoggerPtr& logger);
  size_t size() const;

 private:
  mutable std::mutex mu_;
  uint64_t next_id_ = 1;                                              // guarded by mu_
  std::map<uint64_t, std::shared_ptr<StreamState>> streams_;         // guarded by mu_
  std::unordered_map<std::string, uint64_t> by_host_;                // guarded by mu_
  std::unordered_map<uint64_t, std::string> host_of_;                // guarded by mu_
};

// With an `authority` (TLS, the default) a stream needs a verified client certificate that the authority accepts
// (UNAUTHENTICATED otherwise), and its Hello and reports must name the certificate's host (PERMISSION_DENIED and a
// security log line otherwise). Null `authority`: plain text (--insecure), no identity checks.
// With `rules` (serve --rules FILE), an agent whose Hello reports another rules version is sent them right after its
// Welcome. Null: no rules are ever sent.
class AgentServiceImpl final : public v1::AgentService::CallbackService {
 public:
  AgentServiceImpl(Store* store, StreamRegistry* registry, const Clock* clock, AgentLimits limits, LoggerPtr logger,
                   const pki::Authority* authority = nullptr, const RulesDistribution* rules = nullptr)
      : store_(store),
        registry_(registry),
        clock_(clock),
        limits_(limits),
        logger_(std::move(logger)),
        authority_(authority),
        rules_(rules) {}

  using v1::AgentService::CallbackService::Connect;  // the generated sync overload stays visible
  grpc::ServerBidiReactor<v1::AgentMessage, v1::CollectorMessage>* Connect(
      grpc::CallbackServerContext* context) override;

 private:
  Store* const store_;
  StreamRegistry* const registry_;
  const Clock* const clock_;
  const AgentLimits limits_;
  const LoggerPtr logger_;
  const pki::Authority* const authority_;
  const RulesDistribution* const rules_;
};

}  // namespace ksweep::server
