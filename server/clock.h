// Time as the collector sees it: injected so stale sweeps and trends are testable without waiting.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace ksweep::server {

// Microseconds since the Unix epoch (UTC). Stored as is; one unit everywhere in the collector.
using Micros = int64_t;

inline constexpr Micros kMicrosPerSecond = 1'000'000;
inline constexpr Micros kMicrosPerDay = 86'400 * kMicrosPerSecond;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Micros Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  Micros Now() const override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that moves only when told: for tests and benchmarks that build history over simulated days.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Micros start) : now_(start) {}
  Micros Now() const override { return now_.load(); }
  void Set(Micros t) { now_.store(t); }
  void Advance(Micros d) { now_.fetch_add(d); }

 private:
  std::atomic<Micros> now_;
};

}  // namespace ksweep::server
