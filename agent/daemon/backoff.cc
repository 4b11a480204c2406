#include "agent/daemon/backoff.h"

#include <algorithm>

namespace ksweep::agent {

Backoff::Backoff(BackoffParams params, uint64_t seed) : params_(params), rng_(seed) {}

std::chrono::milliseconds Backoff::Next() {
  const double max_ms = static_cast<double>(params_.max.count());
  current_ms_ = current_ms_ == 0 ? static_cast<double>(params_.initial.count())
                                 : std::min(current_ms_ * params_.multiplier, max_ms);
  std::uniform_real_distribution<double> spread(-params_.jitter, params_.jitter);
  const double jittered = current_ms_ * (1.0 + spread(rng_));
  return std::chrono::milliseconds(static_cast<int64_t>(std::max(jittered, 0.0)));
}

}  // namespace ksweep::agent
