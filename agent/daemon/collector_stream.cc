#include "agent/daemon/collector_stream.h"

#include <boost/asio/post.hpp>

namespace ksweep::agent {

std::shared_ptr<CollectorStream> CollectorStream::Start(std::shared_ptr<grpc::Channel> channel,
                                                        boost::asio::any_io_executor loop, v1::AgentMessage hello,
                                                        MessageHandler on_message, DoneHandler on_done) {
  std::shared_ptr<CollectorStream> stream(
      new CollectorStream(std::move(channel), std::move(loop), std::move(on_message), std::move(on_done)));
  stream->self_ = stream;
  stream->stub_->async()->Connect(&stream->context_, stream.get());
  // Writes are started from the event loop, outside any reaction: the hold keeps OnDone back until none can come.
  stream->AddHold();
  stream->writing_ = std::move(hello);
  stream->write_in_flight_ = true;
  stream->StartWrite(&stream->writing_);
  stream->StartRead(&stream->incoming_);
  stream->StartCall();
  return stream;
}

CollectorStream::CollectorStream(std::shared_ptr<grpc::Channel> channel, boost::asio::any_io_executor loop,
                                 MessageHandler on_message, DoneHandler on_done)
    : channel_(std::move(channel)),
      stub_(v1::AgentService::NewStub(channel_)),
      loop_(std::move(loop)),
      on_message_(std::move(on_message)),
      on_done_(std::move(on_done)) {}

bool CollectorStream::Send(v1::AgentMessage message) {
  std::unique_lock lock(mutex_);
  if (closing_) return false;
  if (write_in_flight_) {
    if (queue_.size() < kMaxQueuedMessages) {
      queue_.push_back(std::move(message));
      return true;
    }
    closing_ = true;
    queue_.clear();
    lock.unlock();
    context_.TryCancel();
    return false;
  }
  writing_ = std::move(message);
  write_in_flight_ = true;
  lock.unlock();
  StartWrite(&writing_);
  return true;
}

bool CollectorStream::Busy() const {
  std::lock_guard lock(mutex_);
  return write_in_flight_ || !queue_.empty();
}

bool CollectorStream::TakeHoldRelease() {
  if (!reads_done_ || write_in_flight_ || hold_released_) return false;
  hold_released_ = true;
  return true;
}

void CollectorStream::OnReadDone(bool ok) {
  if (ok) {
    boost::asio::post(loop_, [handler = on_message_, message = std::move(incoming_)]() mutable {
      handler(std::move(message));
    });
    incoming_.Clear();
    StartRead(&incoming_);
    return;
  }
  bool release = false;
  {
    std::lock_guard lock(mutex_);
    reads_done_ = true;
    closing_ = true;
    queue_.clear();
    release = TakeHoldRelease();
  }
  if (release) RemoveHold();
}

void CollectorStream::OnWriteDone(bool ok) {
  bool start_next = false;
  bool release = false;
  {
    std::lock_guard lock(mutex_);
    write_in_flight_ = false;
    if (!ok) {
      closing_ = true;
      queue_.clear();
    } else if (!closing_ && !queue_.empty()) {
      writing_ = std::move(queue_.front());
      queue_.pop_front();
      write_in_flight_ = true;
      start_next = true;
    }
    release = TakeHoldRelease();
  }
  if (start_next) StartWrite(&writing_);
  if (release) RemoveHold();
}

void CollectorStream::OnDone(const grpc::Status& status) {
  // The posted handler owns the last reference: the reactor dies on the event loop, after on_done.
  boost::asio::post(loop_, [self = std::move(self_), status] { self->on_done_(status); });
}

}  // namespace ksweep::agent
