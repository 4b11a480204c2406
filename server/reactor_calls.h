// Calls into a callback-API reactor made with the stream's lock released: a reaction may run inline on the calling
// thread and take the lock itself. `starting` (guarded by the same lock) counts the calls under way, so that no
// thread finishes the reactor, and so frees it in OnDone, while one of them still holds its pointer.
#pragma once

#include <mutex>
#include <utility>

namespace ksweep::server {

// Runs `call` (a reactor's Start* call, or a store read made for the stream) with `lock` released and counted in
// `starting`; returns with `lock` held again.
template <typename Call>
void CallUnlocked(std::unique_lock<std::mutex>& lock, int& starting, Call&& call) {
  ++starting;
  lock.unlock();
  std::forward<Call>(call)();
  lock.lock();
  --starting;
}

}  // namespace ksweep::server
