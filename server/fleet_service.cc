#include "server/fleet_service.h"

#include <google/protobuf/util/time_util.h>

#include <deque>
#include <set>

#include "common/protocol.h"
#include "server/filter.h"
#include "server/grpc_status.h"
#include "server/reactor_calls.h"

namespace ksweep::server {

using google::protobuf::util::TimeUtil;

namespace {

Result<EventQuery> MakeEventQuery(const std::string& host,
                                  const google::protobuf::RepeatedField<int>& types) {
  EventQuery q;
  q.host = host;
  for (int i = 0; i < types.size(); ++i) {
    const int t = types.Get(i);
    if (t == v1::EVENT_TYPE_UNSPECIFIED || !v1::EventType_IsValid(t)) {
      return Status::InvalidArgument("types[" + std::to_string(i) + "]: " + std::to_string(t) +
                                     " is not an event type");
    }
    q.types.push_back(static_cast<v1::EventType>(t));
  }
  return q;
}

}  // namespace

grpc::ServerUnaryReactor* FleetServiceImpl::GetSummary(grpc::CallbackServerContext* ctx, const v1::GetSummaryRequest*,
                                                       v1::Summary* resp) {
  auto r = store_->GetSummary();
  if (!r.ok()) return FinishUnary(ctx, ToGrpc(r.status()));
  *resp = std::move(*r);
  return FinishUnary(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* FleetServiceImpl::ListHosts(grpc::CallbackServerContext* ctx,
                                                      const v1::ListHostsRequest* req, v1::ListHostsResponse* resp) {
  auto query = ParseHostFilter(req->filter());
  if (!query.ok()) return FinishUnary(ctx, ToGrpc(query.status()));
  auto r = store_->ListHosts(*query, req->order_by(), req->page_size(), req->page_token());
  if (!r.ok()) return FinishUnary(ctx, ToGrpc(r.status()));
  *resp = std::move(*r);
  for (auto& h : *resp->mutable_hosts()) h.set_connected(registry_->Connected(h.host_id()));
  return FinishUnary(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* FleetServiceImpl::GetHost(grpc::CallbackServerContext* ctx, const v1::GetHostRequest* req,
                                                    v1::Host* resp) {
  auto r = store_->GetHost(req->host(), req->history_limit());
  if (!r.ok()) return FinishUnary(ctx, ToGrpc(r.status()));
  *resp = std::move(*r);
  resp->mutable_summary()->set_connected(registry_->Connected(resp->summary().host_id()));
  return FinishUnary(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* FleetServiceImpl::ListEvents(grpc::CallbackServerContext* ctx,
                                                       const v1::ListEventsRequest* req,
                                                       v1::ListEventsResponse* resp) {
  auto query = MakeEventQuery(req->host(), req->types());
  if (!query.ok()) return FinishUnary(ctx, ToGrpc(query.status()));
  if (req->has_since()) query->since = TimeUtil::TimestampToMicroseconds(req->since());
  auto r = store_->ListEvents(*query, req->page_size(), req->page_token());
  if (!r.ok()) return FinishUnary(ctx, ToGrpc(r.status()));
  *resp = std::move(*r);
  return FinishUnary(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* FleetServiceImpl::GetTrend(grpc::CallbackServerContext* ctx, const v1::GetTrendRequest* req,
                                                     v1::Trend* resp) {
  auto r = store_->GetTrend(req->days());
  if (!r.ok()) return FinishUnary(ctx, ToGrpc(r.status()));
  *resp = std::move(*r);
  return FinishUnary(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* FleetServiceImpl::RequestScan(grpc::CallbackServerContext* ctx,
                                                        const v1::RequestScanRequest* req,
                                                        v1::RequestScanResponse* resp) {
  std::vector<std::string> targets;
  if (!req->host().empty()) {
    auto host = store_->GetHost(req->host(), 1);
    if (!host.ok()) return FinishUnary(ctx, ToGrpc(host.status()));
    targets.push_back(host->summary().host_id());
  } else if (req->has_filter()) {
    auto query = ParseHostFilter(req->filter());
    if (!query.ok()) return FinishUnary(ctx, ToGrpc(query.status()));
    auto ids = store_->SelectHostIds(*query, limits_.max_scan_targets);
    if (!ids.ok()) return FinishUnary(ctx, ToGrpc(ids.status()));
    targets = std::move(*ids);
  } else {
    return FinishUnary(ctx, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                  "RequestScan: give a host (id or hostname) or a filter (an empty filter: every host)"));
  }
  v1::CollectorMessage msg;
  msg.mutable_scan_now()->set_reason(req->reason().empty() ? "requested through the fleet API" : req->reason());
  for (const auto& id : targets) {
    if (registry_->Send(id, msg)) {
      resp->add_requested(id);
    } else {
      resp->add_not_connected(id);
    }
  }
  logger_->info("scan requested peer={} requested={} not_connected={} reason=\"{}\"", ctx->peer(),
                resp->requested_size(), resp->not_connected_size(), msg.scan_now().reason());
  return FinishUnary(ctx, grpc::Status::OK);
}

// ---------------------------------------------------------------------------------------------------------------
// WatchEvents: replay stored events newer than after_id, then live ones from the bus. Live events arriving during
// the replay wait in the queue and are dropped if the replay already covered them (by id).

namespace {

class EventWatcher;

struct WatchState {
  std::mutex mu;
  EventWatcher* reactor = nullptr;   // guarded by mu; null once done
  std::deque<v1::Event> pending;     // to write, in id order; guarded by mu
  std::deque<v1::Event> live;        // arrived during the replay; guarded by mu
  v1::Event writing_msg;
  bool busy = false;                 // a write or a replay read in flight; guarded by mu
  bool replaying = false;            // guarded by mu
  int64_t last_sent_id = 0;          // guarded by mu: nothing at or below it is written again
  int starting = 0;                  // guarded by mu
  bool finish_requested = false;     // guarded by mu
  bool finished = false;             // guarded by mu
  grpc::Status finish_status;        // guarded by mu
  int64_t resume_after_id = -1;      // guarded by mu: >= 0 when cut off for lagging, sent as a trailer
  // Fixed before the subscription starts.
  std::string host_id;
  std::set<int> types;
  size_t queue_limit = 0;

  bool Wants(const v1::Event& e) const {
    if (!host_id.empty() && e.host_id() != host_id) return false;
    return types.empty() || types.count(e.type()) != 0;
  }
  void RequestFinish(grpc::Status s) {
    if (finish_requested) return;
    finish_requested = true;
    finish_status = std::move(s);
  }
  // `may_read_store`: false on the store's writer thread (bus delivery), which must not wait on a read.
  void Pump(std::unique_lock<std::mutex>& lock, bool may_read_store);
};

class EventWatcher final : public grpc::ServerWriteReactor<v1::Event> {
 public:
  EventWatcher(grpc::CallbackServerContext* ctx, Store* store, EventBus* bus, const FleetLimits& limits,
               LoggerPtr logger)
      : ctx_(ctx), store_(store), bus_(bus), limits_(limits), logger_(std::move(logger)), peer_(ctx->peer()),
        state_(std::make_shared<WatchState>()) {
    state_->reactor = this;
  }

  // Subscribes first, then replays: nothing committed in between is missed.
  void Start(const v1::WatchEventsRequest& req) {
    auto st = state_;
    auto query = MakeEventQuery(req.host(), req.types());
    if (!query.ok()) {
      std::unique_lock<std::mutex> lock(st->mu);
      st->RequestFinish(ToGrpc(query.status()));
      st->Pump(lock, true);
      return;
    }
    replay_query_ = std::move(*query);
    if (!req.host().empty()) {
      auto host = store_->GetHost(req.host(), 1);
      st->host_id = host.ok() ? host->summary().host_id() : req.host();  // an expired host: its id as given
      replay_query_.host = st->host_id;
    }
    for (auto t : replay_query_.types) st->types.insert(t);
    st->queue_limit = static_cast<size_t>(limits_.watch_queue_limit);
    {
      std::lock_guard<std::mutex> lock(st->mu);
      st->replaying = req.after_id() > 0;
      st->last_sent_id = req.after_id();
    }
    replay_query_.after_id = req.after_id();
    subscription_ = bus_->Subscribe([weak = std::weak_ptr<WatchState>(st), logger = logger_, peer = peer_](
                                        const std::vector<v1::Event>& events) {
      auto s = weak.lock();
      if (!s) return;
      std::unique_lock<std::mutex> lock(s->mu);
      if (s->reactor == nullptr || s->finish_requested) return;
      auto& into = s->replaying ? s->live : s->pending;
      for (const auto& e : events) {
        if (s->Wants(e)) into.push_back(e);
      }
      int64_t cut_off_after = -1;
      if (into.size() > s->queue_limit) {
        cut_off_after = s->last_sent_id;
        s->resume_after_id = cut_off_after;
        s->RequestFinish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                      "watcher fell more than " + std::to_string(s->queue_limit) +
                                          " events behind: resume with after_id=" + std::to_string(cut_off_after)));
        s->pending.clear();
        s->live.clear();
      }
      s->Pump(lock, false);
      lock.unlock();
      if (cut_off_after >= 0) {
        logger->warn("event watcher cut off for lagging peer={} queue_limit={} resume_after_id={}", peer,
                     s->queue_limit, cut_off_after);
      }
    });
    logger_->info("event watch started peer={} host={} after_id={}", peer_, req.host(), req.after_id());
    // Initial metadata tells the client the subscription exists; `busy` holds every write until it is out.
    {
      std::lock_guard<std::mutex> lock(st->mu);
      st->busy = true;
    }
    StartSendInitialMetadata();
  }

  void OnSendInitialMetadataDone(bool ok) override {
    auto st = state_;
    std::unique_lock<std::mutex> lock(st->mu);
    st->busy = false;
    if (!ok) st->RequestFinish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "watcher went away"));
    st->Pump(lock, true);
  }

  // One page of stored events, or the end of the replay. Runs without the lock.
  Status ReplayStep(std::vector<v1::Event>* out, bool* done) {
    auto page = store_->ListEvents(replay_query_, limits_.watch_replay_page, "");
    if (!page.ok()) return page.status();
    for (auto& e : *page->mutable_events()) out->push_back(std::move(e));
    if (!out->empty()) replay_query_.after_id = out->back().id();
    *done = page->next_page_token().empty();
    return Status::Ok();
  }

  void DoWrite(const v1::Event* e) { StartWrite(e); }
  // `resume_after_id` >= 0: the stream is cut off for lagging, and the client is told where to resume in a form
  // it can tell apart from any other RESOURCE_EXHAUSTED (the message is for people).
  void DoFinish(grpc::Status s, int64_t resume_after_id) {
    if (resume_after_id >= 0) ctx_->AddTrailingMetadata(kResumeAfterIdTrailer, std::to_string(resume_after_id));
    Finish(std::move(s));
  }

  void OnWriteDone(bool ok) override {
    auto st = state_;
    std::unique_lock<std::mutex> lock(st->mu);
    st->busy = false;
    if (!ok) st->RequestFinish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write to watcher failed"));
    st->Pump(lock, true);
  }

  void OnCancel() override {
    auto st = state_;
    std::unique_lock<std::mutex> lock(st->mu);
    st->RequestFinish(grpc::Status::CANCELLED);
    st->Pump(lock, true);
  }

  void OnDone() override {
    bus_->Unsubscribe(subscription_);
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->reactor = nullptr;
    }
    logger_->info("event watch ended peer={}", peer_);
    delete this;
  }

 private:
  grpc::CallbackServerContext* const ctx_;
  Store* const store_;
  EventBus* const bus_;
  const FleetLimits& limits_;
  const LoggerPtr logger_;
  const std::string peer_;
  const std::shared_ptr<WatchState> state_;
  EventQuery replay_query_;  // touched only by the thread that holds a replay step (see Pump)
  uint64_t subscription_ = 0;
};

void WatchState::Pump(std::unique_lock<std::mutex>& lock, bool may_read_store) {
  for (;;) {
    EventWatcher* r = reactor;
    if (r == nullptr || finished || busy) return;
    if (finish_requested) {
      if (starting == 0) {
        finished = true;
        lock.unlock();
        r->DoFinish(finish_status, resume_after_id);
        lock.lock();
      }
      return;
    }
    if (!pending.empty()) {
      writing_msg = std::move(pending.front());
      pending.pop_front();
      if (writing_msg.id() <= last_sent_id) continue;  // the replay and the bus overlap
      last_sent_id = writing_msg.id();
      busy = true;
      CallUnlocked(lock, starting, [&] { r->DoWrite(&writing_msg); });
      continue;
    }
    if (!replaying || !may_read_store) return;
    busy = true;  // keeps every other thread out while the lock is released for the read
    std::vector<v1::Event> page;
    bool done = false;
    Status s;
    CallUnlocked(lock, starting, [&] { s = r->ReplayStep(&page, &done); });
    busy = false;
    if (!s.ok()) {
      RequestFinish(ToGrpc(s));
      continue;
    }
    for (auto& e : page) pending.push_back(std::move(e));
    if (done) {
      replaying = false;
      for (auto& e : live) pending.push_back(std::move(e));
      live.clear();
    }
  }
}

}  // namespace

grpc::ServerWriteReactor<v1::Event>* FleetServiceImpl::WatchEvents(grpc::CallbackServerContext* ctx,
                                                                   const v1::WatchEventsRequest* req) {
  auto* watcher = new EventWatcher(ctx, store_, bus_, limits_, logger_);
  watcher->Start(*req);
  return watcher;
}

}  // namespace ksweep::server
