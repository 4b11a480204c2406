// The agent's self-check of its own footprint, in the spirit of osquery's watchdog but without a second process:
// every `interval` the daemon samples its resident memory and the CPU time it used, and exits with kExitWatchdog
// (after one log line saying why) when memory is over the limit, or CPU was over its limit for `cpu_strikes`
// checks in a row. systemd (Restart=on-failure, packaging/) then starts a fresh agent; the spool makes that lossless.
// Sustained, not momentary, CPU: a scan is a short burst and must not trip it.
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace ksweep::agent {

// sysexits.h EX_TEMPFAIL: "try again later" — a supervisor restart is the cure.
inline constexpr int kExitWatchdog = 75;

struct WatchdogLimits {
  // Well under osquery's defaults (200 MB, 10 %): the agent idles at about 10 MiB and a scan is a burst.
  uint64_t max_rss_bytes = uint64_t{64} << 20;
  double max_cpu_percent = 5.0;  // of one core, averaged over an interval
  std::chrono::seconds interval{10};
  int cpu_strikes = 3;           // consecutive intervals over max_cpu_percent before exiting
  bool enabled = true;
};

struct ResourceSample {
  uint64_t rss_bytes = 0;
  std::chrono::microseconds cpu{0};  // user + system, every thread of this process
  std::chrono::steady_clock::time_point at;
};

// Resident set from /proc/self/statm, CPU from getrusage(RUSAGE_SELF). rss_bytes is 0 when statm is unreadable.
inline ResourceSample SampleSelf() {
  ResourceSample s;
  s.at = std::chrono::steady_clock::now();
  if (std::FILE* f = std::fopen("/proc/self/statm", "re")) {
    unsigned long long size = 0, resident = 0;
    if (std::fscanf(f, "%llu %llu", &size, &resident) == 2) {
      s.rss_bytes = resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    }
    std::fclose(f);
  }
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) == 0) {
    s.cpu = std::chrono::seconds(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
            std::chrono::microseconds(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
  }
  return s;
}

// CPU used between two samples, in percent of one core.
inline double CpuPercent(const ResourceSample& before, const ResourceSample& after) {
  const auto wall = std::chrono::duration_cast<std::chrono::microseconds>(after.at - before.at).count();
  if (wall <= 0) return 0;
  return 100.0 * static_cast<double>((after.cpu - before.cpu).count()) / static_cast<double>(wall);
}

// The decision, kept apart from the timer so it is testable: feed samples, get a reason to exit (empty: fine).
class WatchdogCheck {
 public:
  explicit WatchdogCheck(const WatchdogLimits& limits, const ResourceSample& first) : limits_(limits), last_(first) {}

  std::string Next(const ResourceSample& now) {
    const double cpu = CpuPercent(last_, now);
    last_ = now;
    last_cpu_percent_ = cpu;
    if (limits_.max_rss_bytes > 0 && now.rss_bytes > limits_.max_rss_bytes) {
      return "memory: resident " + std::to_string(now.rss_bytes) + " bytes is over the limit of " +
             std::to_string(limits_.max_rss_bytes);
    }
    strikes_ = (limits_.max_cpu_percent > 0 && cpu > limits_.max_cpu_percent) ? strikes_ + 1 : 0;
    if (strikes_ >= limits_.cpu_strikes) {
      char text[160];
      std::snprintf(text, sizeof text, "cpu: %.2f%% over the last interval, over the limit of %.2f%% for %d checks",
                    cpu, limits_.max_cpu_percent, strikes_);
      return text;
    }
    return {};
  }
  double last_cpu_percent() const { return last_cpu_percent_; }

 private:
  WatchdogLimits limits_;
  ResourceSample last_;
  int strikes_ = 0;
  double last_cpu_percent_ = 0;
};

}  // namespace ksweep::agent
