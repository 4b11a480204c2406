// One AgentService.Connect stream: a ClientBidiReactor, new for every connection attempt (reconnecting and its
// backoff are the daemon's business). Reactions run on gRPC's threads and never decide anything: each incoming
// message and the final status are posted to the daemon's event loop. Writes may be queued from any thread; one is in
// flight at a time.
#pragma once

#include <grpcpp/grpcpp.h>

#include <boost/asio/any_io_executor.hpp>

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "ksweep/v1/agent.grpc.pb.h"

namespace ksweep::agent {

// Messages waiting behind the one being written. Reports go out only when the host changes and heartbeats only when
// nothing is waiting, so a longer queue means the collector stopped reading: the stream is cancelled and the next one
// re-sends what is unacknowledged from the state folder.
inline constexpr size_t kMaxQueuedMessages = 16;

class CollectorStream : public grpc::ClientBidiReactor<v1::AgentMessage, v1::CollectorMessage>,
                        public std::enable_shared_from_this<CollectorStream> {
 public:
  using MessageHandler = std::function<void(v1::CollectorMessage)>;
  using DoneHandler = std::function<void(const grpc::Status&)>;

  // Opens the stream on `channel` and writes `hello` first. Handlers run on `loop`; `on_done` exactly once, last.
  static std::shared_ptr<CollectorStream> Start(std::shared_ptr<grpc::Channel> channel, boost::asio::any_io_executor loop,
                                                v1::AgentMessage hello, MessageHandler on_message, DoneHandler on_done);

  // Queues a message. False when the stream is closing or stalled (then it is being cancelled).
  bool Send(v1::AgentMessage message);
  // True while a write is in flight or waiting: a heartbeat then would say nothing new.
  bool Busy() const;
  // Ends the stream; on_done follows with CANCELLED.
  void Cancel() { context_.TryCancel(); }

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  CollectorStream(std::shared_ptr<grpc::Channel> channel, boost::asio::any_io_executor loop, MessageHandler on_message,
                  DoneHandler on_done);
  // Call with mutex_ held; true when the caller must release the hold (after unlocking).
  bool TakeHoldRelease();

  const std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AgentService::Stub> stub_;
  const boost::asio::any_io_executor loop_;
  const MessageHandler on_message_;
  const DoneHandler on_done_;
  grpc::ClientContext context_;
  v1::CollectorMessage incoming_;  // touched by read reactions only, which never overlap
  std::shared_ptr<CollectorStream> self_;  // keeps the reactor alive until OnDone

  mutable std::mutex mutex_;
  v1::AgentMessage writing_;               // guarded by write_in_flight_: only its owner touches it
  std::deque<v1::AgentMessage> queue_;     // GUARDED_BY(mutex_)
  bool write_in_flight_ = false;           // GUARDED_BY(mutex_)
  bool closing_ = false;                   // GUARDED_BY(mutex_): no more writes start
  bool reads_done_ = false;                // GUARDED_BY(mutex_)
  bool hold_released_ = false;             // GUARDED_BY(mutex_)
};

}  // namespace ksweep::agent
