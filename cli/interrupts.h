// SIGINT/SIGTERM for long-running commands (`events --follow`): turned into a cancel callback on a thread of
// their own, so the stream ends cleanly and the command exits 0 instead of being killed mid-line.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace ksweep::cli {

class Interrupts {
 public:
  // Blocks SIGINT and SIGTERM in the calling thread and so in every thread it starts later (gRPC's too): create it
  // before the gRPC channel.
  Interrupts();
  ~Interrupts();
  Interrupts(const Interrupts&) = delete;
  Interrupts& operator=(const Interrupts&) = delete;

  // What to do on the signal; run at once if the signal already came.
  void OnInterrupt(std::function<void()> cancel);
  bool interrupted() const { return interrupted_.load(); }
  // Waits `d`; false (at once) if the signal comes first.
  bool SleepUnlessInterrupted(std::chrono::milliseconds d);

 private:
  void Wait();

  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> cancel_;
  std::atomic<bool> interrupted_{false};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace ksweep::cli
