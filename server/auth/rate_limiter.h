// Token buckets by key (an API token id): `rate` requests per second sustained, `burst` at once. Time comes from the
// collector's Clock so tests move it by hand.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "server/clock.h"

namespace ksweep::server::auth {

class RateLimiter {
 public:
  RateLimiter(double rate, double burst, const Clock* clock) : rate_(rate), burst_(burst), clock_(clock) {}

  // Takes one request from `key`'s bucket; false when it is empty.
  bool Allow(const std::string& key);

 private:
  struct Bucket {
    double tokens = 0;
    Micros last = 0;
  };
  const double rate_;
  const double burst_;
  const Clock* const clock_;
  std::mutex mu_;
  std::map<std::string, Bucket> buckets_;  // guarded by mu_; keys are ids of valid tokens, so bounded
};

}  // namespace ksweep::server::auth
