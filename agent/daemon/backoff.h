// Delays between connection attempts, as gRPC's own connection backoff (doc/connection-backoff.md): 1 s, then x1.6
// per failure up to 120 s, each delay jittered by +-20% so a fleet restarted together does not reconnect in step.
// It lives outside the stream: every attempt gets a fresh reactor, the delay carries over.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace ksweep::agent {

struct BackoffParams {
  std::chrono::milliseconds initial{1000};
  double multiplier = 1.6;
  double jitter = 0.2;
  std::chrono::milliseconds max{120000};
};

class Backoff {
 public:
  explicit Backoff(BackoffParams params = {}, uint64_t seed = std::random_device{}());

  // The delay before the next attempt. Before jitter: initial, then the previous one times multiplier, capped at max
  // (so a jittered delay may reach max * (1 + jitter), as in gRPC core).
  std::chrono::milliseconds Next();

  // After an attempt that reached the collector: the next failure starts again from `initial`.
  void Reset() { current_ms_ = 0; }

 private:
  const BackoffParams params_;
  std::mt19937_64 rng_;
  double current_ms_ = 0;  // un-jittered delay last returned; 0: none since Reset
};

}  // namespace ksweep::agent
