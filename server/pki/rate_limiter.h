// Attempts per source address: a token bucket per key, `burst` at once, refilled at `per_minute`. Bounded memory:
// past `max_keys` sources, full buckets (sources that have been quiet) are dropped first, then the table is cleared
// (a flood from many addresses then gets one fresh burst each, which is the best a bounded table can do).
#pragma once

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace ksweep::server::pki {

struct RateLimit {
  double per_minute = 10;  // sustained attempts per source
  double burst = 10;       // attempts at once
  size_t max_keys = 100000;
};

class RateLimiter {
 public:
  explicit RateLimiter(RateLimit limit) : limit_(limit) {}

  // True when `key` may make one more attempt at `now_us` (steady clock); takes the token.
  bool Allow(const std::string& key, int64_t now_us) {
    std::lock_guard<std::mutex> lock(mu_);
    if (buckets_.size() >= limit_.max_keys && buckets_.count(key) == 0) Prune(now_us);
    auto [it, fresh] = buckets_.try_emplace(key, Bucket{limit_.burst, now_us});
    Bucket& b = it->second;
    if (!fresh) {
      b.tokens = std::min(limit_.burst, b.tokens + static_cast<double>(now_us - b.at_us) / 60e6 * limit_.per_minute);
      b.at_us = now_us;
    }
    if (b.tokens < 1.0) return false;
    b.tokens -= 1.0;
    return true;
  }

 private:
  struct Bucket {
    double tokens;
    int64_t at_us;
  };
  void Prune(int64_t now_us) {
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      const double t = it->second.tokens + static_cast<double>(now_us - it->second.at_us) / 60e6 * limit_.per_minute;
      it = t >= limit_.burst ? buckets_.erase(it) : std::next(it);
    }
    if (buckets_.size() >= limit_.max_keys) buckets_.clear();
  }

  const RateLimit limit_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;  // guarded by mu_
};

}  // namespace ksweep::server::pki
