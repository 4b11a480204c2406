#include "server/agent_service.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <optional>

#include "common/tls/credentials.h"
#include "server/grpc_status.h"
#include "server/reactor_calls.h"

namespace ksweep::server {

using google::protobuf::util::TimeUtil;

namespace {

int64_t SteadyMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

const char* KindName(const v1::AgentMessage& m) {
  switch (m.message_case()) {
    case v1::AgentMessage::kHello: return "Hello";
    case v1::AgentMessage::kReport: return "Report";
    case v1::AgentMessage::kHeartbeat: return "Heartbeat";
    case v1::AgentMessage::MESSAGE_NOT_SET: break;
  }
  return "an empty message";
}

}  // namespace

// The part of a stream that other threads reach (the store writer with acks, RequestScan, idle checks, shutdown).
// It outlives the reactor: `reactor` is cleared in OnDone, and gRPC calls on the reactor are made without the lock
// held (a reaction may run inline) while `starting` keeps Finish, and so OnDone, from racing them.
struct StreamState {
  std::mutex mu;
  AgentStream* reactor = nullptr;             // guarded by mu; null once done
  std::deque<v1::CollectorMessage> outbox;    // guarded by mu
  v1::CollectorMessage writing_msg;           // the one write in flight; stable until OnWriteDone
  bool writing = false;                       // guarded by mu
  bool read_in_flight = false;                // guarded by mu
  int inflight = 0;                           // store writes not yet completed; guarded by mu
  int max_inflight = 1;
  int starting = 0;                           // threads inside a Start*/Finish call; guarded by mu
  bool finish_requested = false;              // guarded by mu
  bool finished = false;                      // guarded by mu
  bool cancelled = false;                     // guarded by mu
  grpc::Status finish_status;                 // guarded by mu
  std::atomic<int64_t> last_activity_us{0};   // steady clock
  std::string peer;
  std::string identity;                       // host id of the client certificate; empty in plain text; set once
  std::string rules_version;                  // what the agent runs, as far as we know; guarded by mu

  void Pump(std::unique_lock<std::mutex>& lock);

  // Queues a message for the agent; false when the stream is finishing or gone.
  bool Post(v1::CollectorMessage msg) {
    std::unique_lock<std::mutex> lock(mu);
    if (reactor == nullptr || finish_requested) return false;
    outbox.push_back(std::move(msg));
    Pump(lock);
    return true;
  }

  // Sends `rules` when the agent runs another version, as far as this stream knows; true when sent. `reason` is for
  // the log (hello, reload).
  bool OfferRules(const RulesDistribution& rules, const std::string& host_id, const char* reason,
                  const LoggerPtr& logger) {
    std::string agent_rules;
    {
      std::lock_guard<std::mutex> lock(mu);
      agent_rules = rules_version;
    }
    const auto push = rules.ForAgent(agent_rules);
    if (!push || !Post(*push)) return false;  // unlocked: posting may end the stream
    {
      std::lock_guard<std::mutex> lock(mu);
      rules_version = push->rules().version();
    }
    logger->info("rules pushed host_id={} version={} agent_rules_version={} reason={}", host_id,
                 push->rules().version(), agent_rules, reason);
    return true;
  }

  // Ends the stream with `status` once what is already accepted has been acknowledged.
  void Fail(grpc::Status status) {
    std::unique_lock<std::mutex> lock(mu);
    RequestFinish(std::move(status));
    Pump(lock);
  }

  // A store write finished: maybe a message to send, maybe an error that ends the stream.
  void Complete(std::optional<v1::CollectorMessage> msg, std::optional<grpc::Status> error) {
    std::unique_lock<std::mutex> lock(mu);
    --inflight;
    if (msg && !cancelled) outbox.push_back(std::move(*msg));
    if (error) RequestFinish(std::move(*error));
    Pump(lock);
  }

  void RequestFinish(grpc::Status status) {
    if (finish_requested) return;
    finish_requested = true;
    finish_status = std::move(status);
  }
};

class AgentStream final : public grpc::ServerBidiReactor<v1::AgentMessage, v1::CollectorMessage> {
 public:
  AgentStream(Store* store, StreamRegistry* registry, const Clock* clock, const AgentLimits& limits,
              LoggerPtr logger, const pki::Authority* authority, const RulesDistribution* rules,
              grpc::CallbackServerContext* context)
      : store_(store),
        registry_(registry),
        clock_(clock),
        limits_(limits),
        logger_(std::move(logger)),
        authority_(authority),
        rules_(rules),
        state_(std::make_shared<StreamState>()),
        tokens_(limits.message_burst),
        refilled_us_(SteadyMicros()) {
    state_->reactor = this;
    state_->max_inflight = std::max(1, limits_.max_inflight_reports);
    state_->peer = context->peer();
    state_->last_activity_us = refilled_us_;
    std::optional<grpc::Status> refused;
    if (authority != nullptr) {
      // Registered before the revocation check, so a revocation racing this connection either is seen here or
      // finds the stream in the registry (DropIdentity).
      const auto auth = context->auth_context();
      const auto cert = auth ? tls::VerifiedPeerCert(*auth) : std::nullopt;
      if (cert) state_->identity = pki::Authority::IdentityOf(*cert);
      id_ = registry_->Add(state_);
      if (!cert) {
        refused = grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                               "agent stream: no client certificate; enroll first (ksweep-agent enroll)");
      } else if (auto host = authority->CheckPeer(*cert); !host.ok()) {
        authority->AuditRefusal("connect_refused", state_->identity, state_->peer, host.status().message());
        refused = grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "agent stream: " + host.status().message());
      }
    } else {
      id_ = registry_->Add(state_);
    }
    logger_->debug("agent stream opened peer={} stream={} identity={}", state_->peer, id_, state_->identity);
    auto st = state_;
    std::unique_lock<std::mutex> lock(st->mu);
    if (refused) {
      logger_->warn("agent stream refused peer={} identity={} code={} error=\"{}\"", st->peer, st->identity,
                    static_cast<int>(refused->error_code()), refused->error_message());
      st->RequestFinish(std::move(*refused));
    }
    st->Pump(lock);
  }

  void DoWrite(const v1::CollectorMessage* msg) { StartWrite(msg); }
  void DoRead() { StartRead(&in_); }
  void DoFinish(grpc::Status s) { Finish(std::move(s)); }

  void OnReadDone(bool ok) override {
    auto st = state_;  // a reaction below may end in OnDone, which deletes this
    std::optional<grpc::Status> error;
    if (!ok) {
      // The agent half-closed (or the call broke: OnCancel says so). Finish after the pending acks.
      error = grpc::Status::OK;
    } else {
      st->last_activity_us = SteadyMicros();
      // `read_in_flight` is still set: no other thread starts a read into `in_` while it is handled.
      error = Handle();
      if (error) {
        logger_->warn("agent stream refused peer={} host_id={} code={} error=\"{}\"", st->peer, host_id_,
                      static_cast<int>(error->error_code()), error->error_message());
      }
    }
    std::unique_lock<std::mutex> lock(st->mu);
    st->read_in_flight = false;
    if (error) st->RequestFinish(std::move(*error));
    st->Pump(lock);
  }

  void OnWriteDone(bool ok) override {
    auto st = state_;
    std::unique_lock<std::mutex> lock(st->mu);
    st->writing = false;
    if (!ok) {
      st->cancelled = true;
      st->RequestFinish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write to agent failed"));
    }
    st->Pump(lock);
  }

  void OnCancel() override {
    auto st = state_;
    std::unique_lock<std::mutex> lock(st->mu);
    st->cancelled = true;
    st->RequestFinish(grpc::Status::CANCELLED);
    st->Pump(lock);
  }

  void OnDone() override {
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->reactor = nullptr;
    }
    registry_->Remove(id_);
    logger_->info("agent stream closed peer={} host_id={} stream={}", state_->peer, host_id_, id_);
    delete this;
  }

 private:
  // Handles `in_`; an error ends the stream with it.
  std::optional<grpc::Status> Handle() {
    if (!hello_seen_) {
      if (!in_.has_hello()) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            std::string("the first message on a stream must be Hello, got ") + KindName(in_));
      }
      return OnHello(in_.hello());
    }
    if (in_.has_hello()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "host '" + host_id_ + "': Hello sent twice on one stream");
    }
    if (!TakeToken()) {
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          "host '" + host_id_ + "': more than " + std::to_string(limits_.messages_per_second) +
                              " messages per second (burst " + std::to_string(limits_.message_burst) +
                              "): stream closed, reconnect and send less often");
    }
    switch (in_.message_case()) {
      case v1::AgentMessage::kReport: return OnReport(in_.report());
      case v1::AgentMessage::kHeartbeat: return OnHeartbeat();
      default:
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "host '" + host_id_ + "': empty AgentMessage (no hello, report or heartbeat set)");
    }
  }

  std::optional<grpc::Status> CheckFacts(const v1::HostFacts& facts, const std::string& where) const {
    const auto limit = static_cast<size_t>(limits_.max_host_field_bytes);
    if (facts.host_id().empty()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, where + ": host.host_id is empty");
    if (facts.host_id().size() > limit || facts.hostname().size() > limit) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          where + ": host.host_id or host.hostname longer than " + std::to_string(limit) + " bytes");
    }
    if (facts.labels_size() > limits_.max_labels) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, where + ": " + std::to_string(facts.labels_size()) +
                                                                  " labels, more than the limit of " +
                                                                  std::to_string(limits_.max_labels));
    }
    for (const auto& l : facts.labels()) {
      if (l.size() > limit) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            where + ": a label is longer than " + std::to_string(limit) + " bytes");
      }
    }
    return std::nullopt;
  }

  // In TLS mode a host speaks only for itself: the certificate's identity, not the message, says who it is.
  std::optional<grpc::Status> CheckIdentity(const std::string& claimed, const std::string& where) const {
    if (authority_ == nullptr || claimed == state_->identity) return std::nullopt;
    authority_->AuditRefusal("host_id_mismatch", state_->identity, state_->peer, where + " claims host '" + claimed + "'");
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        where + ": host id '" + claimed + "' is not the client certificate's host '" +
                            state_->identity + "': refused, nothing stored");
  }

  std::optional<grpc::Status> OnHello(const v1::Hello& hello) {
    if (auto bad = CheckFacts(hello.host(), "Hello"); bad) return bad;
    if (auto bad = CheckIdentity(hello.host().host_id(), "Hello"); bad) return bad;
    hello_seen_ = true;
    host_id_ = hello.host().host_id();
    facts_ = hello.host();
    logger_->info("agent hello peer={} host_id={} hostname={} agent_version={} rules_version={}", state_->peer,
                  host_id_, facts_.hostname(), hello.agent_version(), hello.rules_version());
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      ++state_->inflight;
      state_->rules_version = hello.rules_version();
    }
    // Welcome waits for the writer: it carries the last stored sequence, read in order with this host's reports.
    store_->SubmitContact(
        host_id_, clock_->Now(),
        [st = state_, registry = registry_, id = id_, host_id = host_id_, rules = rules_, logger = logger_,
         interval = limits_.heartbeat_interval_seconds](Result<ContactOutcome> r) {
          if (!r.ok()) {
            st->Complete(std::nullopt, ToGrpc(r.status()));
            return;
          }
          registry->SetHost(id, host_id);
          v1::CollectorMessage msg;
          msg.mutable_welcome()->set_last_stored_sequence(r->last_sequence);
          msg.mutable_welcome()->set_heartbeat_interval_seconds(interval);
          st->Complete(std::move(msg), std::nullopt);
          // Queued behind the Welcome on this writer thread, so the agent reads them in that order.
          if (rules != nullptr) st->OfferRules(*rules, host_id, "hello", logger);
        });
    return std::nullopt;
  }

  std::optional<grpc::Status> OnReport(const v1::Report& report) {
    const std::string where = "report " + std::to_string(report.sequence()) + " from host '" + host_id_ + "'";
    const auto& hr = report.report();
    if (hr.findings_size() > limits_.max_findings_per_report) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          where + ": " + std::to_string(hr.findings_size()) + " findings, more than the limit of " +
                              std::to_string(limits_.max_findings_per_report) + " (max_findings_per_report)");
    }
    for (int i = 0; i < hr.findings_size(); ++i) {
      if (hr.findings(i).evidence_size() > limits_.max_evidence_per_finding) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            where + ": findings[" + std::to_string(i) + "] (" + hr.findings(i).product_id() + ") has " +
                                std::to_string(hr.findings(i).evidence_size()) +
                                " evidence items, more than the limit of " +
                                std::to_string(limits_.max_evidence_per_finding) + " (max_evidence_per_finding)");
      }
    }
    if (hr.has_host()) {
      if (auto bad = CheckFacts(hr.host(), where); bad) return bad;
      if (auto bad = CheckIdentity(hr.host().host_id(), where); bad) return bad;
    }
    ReportIn in;
    // The report's own facts win over the Hello's; then the store needs only the Hello's host id, to compare.
    if (hr.has_host()) {
      in.host.set_host_id(facts_.host_id());
    } else {
      in.host = facts_;
    }
    in.sequence = report.sequence();
    // `in_` is parsed afresh by the next read: take the report instead of copying it.
    in.report.Swap(in_.mutable_report()->mutable_report());
    in.agent_time = report.has_agent_time() ? TimeUtil::TimestampToMicroseconds(report.agent_time()) : 0;
    in.receive_time = clock_->Now();
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      ++state_->inflight;
    }
    store_->SubmitReport(std::move(in), [st = state_, seq = report.sequence(), host_id = host_id_,
                                         logger = logger_](Result<IngestOutcome> r) {
      if (!r.ok()) {
        st->Complete(std::nullopt, ToGrpc(r.status()));
        return;
      }
      if (r->kind == IngestKind::kStaleSequence) {
        st->Complete(std::nullopt,
                     grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                  "report sequence " + std::to_string(seq) + " from host '" + host_id +
                                      "' is below the last stored sequence " + std::to_string(r->last_sequence) +
                                      ": refused, nothing stored (sequences must increase)"));
        return;
      }
      v1::CollectorMessage ack;
      ack.mutable_ack()->set_sequence(seq);
      ack.mutable_ack()->set_duplicate(r->kind == IngestKind::kDuplicate);
      logger->debug("report stored host_id={} sequence={} outcome={} events={}", host_id, seq,
                    IngestKindName(r->kind), r->events.size());
      st->Complete(std::move(ack), std::nullopt);
    });
    return std::nullopt;
  }

  std::optional<grpc::Status> OnHeartbeat() {
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      ++state_->inflight;
    }
    store_->SubmitContact(host_id_, clock_->Now(), [st = state_, logger = logger_, host_id = host_id_](
                                                       Result<ContactOutcome> r) {
      if (!r.ok()) logger->warn("heartbeat not stored host_id={} error=\"{}\"", host_id, r.status().message());
      st->Complete(std::nullopt, std::nullopt);
    });
    return std::nullopt;
  }

  bool TakeToken() {
    const int64_t now = SteadyMicros();
    tokens_ = std::min(limits_.message_burst,
                       tokens_ + static_cast<double>(now - refilled_us_) / 1e6 * limits_.messages_per_second);
    refilled_us_ = now;
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }

  Store* const store_;
  StreamRegistry* const registry_;
  const Clock* const clock_;
  const AgentLimits& limits_;
  const LoggerPtr logger_;
  const pki::Authority* const authority_;
  const RulesDistribution* const rules_;
  const std::shared_ptr<StreamState> state_;
  uint64_t id_ = 0;
  // Touched only by OnReadDone, which gRPC never runs twice at once for one stream.
  v1::AgentMessage in_;
  bool hello_seen_ = false;
  std::string host_id_;
  v1::HostFacts facts_;
  double tokens_;
  int64_t refilled_us_;
};

void StreamState::Pump(std::unique_lock<std::mutex>& lock) {
  for (;;) {
    AgentStream* r = reactor;
    if (r == nullptr || finished) return;
    if (!writing && !outbox.empty() && !cancelled) {
      writing_msg = std::move(outbox.front());
      outbox.pop_front();
      writing = true;
      CallUnlocked(lock, starting, [&] { r->DoWrite(&writing_msg); });
      continue;
    }
    if (!read_in_flight && !finish_requested && inflight < max_inflight) {
      read_in_flight = true;
      CallUnlocked(lock, starting, [&] { r->DoRead(); });
      continue;
    }
    if (finish_requested && !writing && starting == 0 && (cancelled || (outbox.empty() && inflight == 0))) {
      finished = true;
      lock.unlock();
      r->DoFinish(finish_status);
      lock.lock();
    }
    return;
  }
}

grpc::ServerBidiReactor<v1::AgentMessage, v1::CollectorMessage>* AgentServiceImpl::Connect(
    grpc::CallbackServerContext* context) {
  return new AgentStream(store_, registry_, clock_, limits_, logger_, authority_, rules_, context);
}

// ---------------------------------------------------------------------------------------------------------------

uint64_t StreamRegistry::Add(std::shared_ptr<StreamState> stream) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t id = next_id_++;
  streams_[id] = std::move(stream);
  return id;
}

void StreamRegistry::Remove(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  streams_.erase(id);
  auto host = host_of_.find(id);
  if (host == host_of_.end()) return;
  auto it = by_host_.find(host->second);
  if (it != by_host_.end() && it->second == id) by_host_.erase(it);  // a newer stream of the host stays
  host_of_.erase(host);
}

void StreamRegistry::SetHost(uint64_t id, const std::string& host_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (streams_.count(id) == 0) return;
  by_host_[host_id] = id;
  host_of_[id] = host_id;
}

bool StreamRegistry::Connected(const std::string& host_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return by_host_.count(host_id) != 0;
}

bool StreamRegistry::Send(const std::string& host_id, const v1::CollectorMessage& msg) {
  std::shared_ptr<StreamState> stream;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_host_.find(host_id);
    if (it == by_host_.end()) return false;
    auto s = streams_.find(it->second);
    if (s == streams_.end()) return false;
    stream = s->second;
  }
  return stream->Post(msg);  // unlocked: posting may end the stream, which removes it from here
}

int StreamRegistry::CloseIdle(int64_t now_steady_us, int64_t idle_timeout_seconds) {
  std::vector<std::shared_ptr<StreamState>> idle;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, s] : streams_) {
      if (now_steady_us - s->last_activity_us.load() > idle_timeout_seconds * 1'000'000) idle.push_back(s);
    }
  }
  for (const auto& s : idle) {
    s->Fail(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                         "no message from the agent for " + std::to_string(idle_timeout_seconds) +
                             " s (stream idle timeout): closed"));
  }
  return static_cast<int>(idle.size());
}

void StreamRegistry::DrainAll(const grpc::Status& status) {
  std::vector<std::shared_ptr<StreamState>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, s] : streams_) all.push_back(s);
  }
  for (const auto& s : all) s->Fail(status);
}

int StreamRegistry::DropIdentity(const std::string& host_id, const grpc::Status& status) {
  std::vector<std::shared_ptr<StreamState>> matching;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, s] : streams_) {
      if (!host_id.empty() && s->identity == host_id) matching.push_back(s);
    }
  }
  for (const auto& s : matching) s->Fail(status);
  return static_cast<int>(matching.size());
}

int StreamRegistry::SendRules(const RulesDistribution& rules, const LoggerPtr& logger) {
  std::vector<std::pair<std::string, std::shared_ptr<StreamState>>> welcomed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, host] : host_of_) {
      if (auto s = streams_.find(id); s != streams_.end()) welcomed.emplace_back(host, s->second);
    }
  }
  int sent = 0;
  for (const auto& [host, s] : welcomed) {
    if (s->OfferRules(rules, host, "reload", logger)) ++sent;
  }
  return sent;
}

size_t StreamRegistry::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return streams_.size();
}

}  // namespace ksweep::server
