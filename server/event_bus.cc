#include "server/event_bus.h"

namespace ksweep::server {

uint64_t EventBus::Subscribe(Handler handler) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t id = next_id_++;
  handlers_[id] = std::make_shared<const Handler>(std::move(handler));
  return id;
}

void EventBus::Unsubscribe(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  handlers_.erase(id);
}

void EventBus::Publish(const std::vector<v1::Event>& events) {
  // Handlers run unlocked: one may end its stream, and that stream unsubscribes.
  std::vector<std::shared_ptr<const Handler>> handlers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    handlers.reserve(handlers_.size());
    for (const auto& [id, h] : handlers_) handlers.push_back(h);
  }
  for (const auto& h : handlers) (*h)(events);
}

size_t EventBus::subscribers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return handlers_.size();
}

}  // namespace ksweep::server
