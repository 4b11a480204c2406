// In-process fan-out of stored events to WatchEvents streams. The store publishes after COMMIT, on its writer thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "server/store/store.h"

namespace ksweep::server {

class EventBus final : public EventSink {
 public:
  // Called on the publishing thread with no bus lock held; must not block.
  using Handler = std::function<void(const std::vector<v1::Event>&)>;

  uint64_t Subscribe(Handler handler);
  // After it returns no new delivery starts; one already running may still finish.
  void Unsubscribe(uint64_t id);
  void Publish(const std::vector<v1::Event>& events) override;
  size_t subscribers() const;

 private:
  mutable std::mutex mu_;
  uint64_t next_id_ = 1;                                        // guarded by mu_
  std::map<uint64_t, std::shared_ptr<const Handler>> handlers_;  // guarded by mu_
};

}  // namespace ksweep::server
