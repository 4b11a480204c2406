#include "server/auth/rate_limiter.h"

#include <algorithm>

namespace ksweep::server::auth {

bool RateLimiter::Allow(const std::string& key) {
  const Micros now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = buckets_.try_emplace(key);
  Bucket& b = it->second;
  if (inserted) {
    b.tokens = burst_;
  } else if (now > b.last) {
    b.tokens = std::min(burst_, b.tokens + rate_ * static_cast<double>(now - b.last) / kMicrosPerSecond);
  }
  b.last = std::max(b.last, now);
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

}  // namespace ksweep::server::auth
