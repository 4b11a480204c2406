// FleetService: the fleet API for people and scripts, on the gRPC callback API. Unary calls read the store on the
// calling thread (readers run in parallel); WatchEvents holds no thread: a write reactor fed by the event bus.
#pragma once

#include <grpcpp/grpcpp.h>

#include "common/logging.h"
#include "ksweep/v1/fleet.grpc.pb.h"
#include "server/agent_service.h"
#include "server/event_bus.h"
#include "server/store/store.h"

namespace ksweep::server {

struct FleetLimits {
  int watch_queue_limit = 10'000;  // events queued for one slow watcher; past it: RESOURCE_EXHAUSTED
  int watch_replay_page = 500;     // stored events read per step of a replay
  size_t max_scan_targets = 100'000;  // hosts one RequestScan may select
};

class FleetServiceImpl final : public v1::FleetService::CallbackService {
 public:
  FleetServiceImpl(Store* store, StreamRegistry* registry, EventBus* bus, FleetLimits limits, LoggerPtr logger)
      : store_(store), registry_(registry), bus_(bus), limits_(limits), logger_(std::move(logger)) {}

  // The generated sync overloads stay visible.
  using Base = v1::FleetService::CallbackService;
  using Base::GetHost;
  using Base::GetSummary;
  using Base::GetTrend;
  using Base::ListEvents;
  using Base::ListHosts;
  using Base::RequestScan;
  using Base::WatchEvents;

  grpc::ServerUnaryReactor* GetSummary(grpc::CallbackServerContext* ctx, const v1::GetSummaryRequest* req,
                                       v1::Summary* resp) override;
  grpc::ServerUnaryReactor* ListHosts(grpc::CallbackServerContext* ctx, const v1::ListHostsRequest* req,
                                      v1::ListHostsResponse* resp) override;
  grpc::ServerUnaryReactor* GetHost(grpc::CallbackServerContext* ctx, const v1::GetHostRequest* req,
                                    v1::Host* resp) override;
  grpc::ServerUnaryReactor* ListEvents(grpc::CallbackServerContext* ctx, const v1::ListEventsRequest* req,
                                       v1::ListEventsResponse* resp) override;
  grpc::ServerWriteReactor<v1::Event>* WatchEvents(grpc::CallbackServerContext* ctx,
                                                   const v1::WatchEventsRequest* req) override;
  grpc::ServerUnaryReactor* GetTrend(grpc::CallbackServerContext* ctx, const v1::GetTrendRequest* req,
                                     v1::Trend* resp) override;
  grpc::ServerUnaryReactor* RequestScan(grpc::CallbackServerContext* ctx, const v1::RequestScanRequest* req,
                                        v1::RequestScanResponse* resp) override;

 private:
  Store* const store_;
  StreamRegistry* const registry_;
  EventBus* const bus_;
  const FleetLimits limits_;
  const LoggerPtr logger_;
};

}  // namespace ksweep::server
