#include "cli/interrupts.h"

#include <pthread.h>
#include <signal.h>

namespace ksweep::cli {
namespace {

sigset_t InterruptSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

Interrupts::Interrupts() {
  const sigset_t set = InterruptSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  thread_ = std::thread([this] { Wait(); });
}

Interrupts::~Interrupts() {
  stopping_.store(true);
  // Wake the waiting thread with a signal aimed at it alone: nothing else sees it.
  pthread_kill(thread_.native_handle(), SIGTERM);
  thread_.join();
}

void Interrupts::OnInterrupt(std::function<void()> cancel) {
  std::lock_guard<std::mutex> lock(mu_);
  cancel_ = std::move(cancel);
  if (interrupted_.load() && cancel_) cancel_();
}

bool Interrupts::SleepUnlessInterrupted(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  return !cv_.wait_for(lock, d, [this] { return interrupted_.load(); });
}

void Interrupts::Wait() {
  const sigset_t set = InterruptSignals();
  int sig = 0;
  if (sigwait(&set, &sig) != 0 || stopping_.load()) return;
  std::lock_guard<std::mutex> lock(mu_);
  interrupted_.store(true);
  if (cancel_) cancel_();
  cv_.notify_all();
}

}  // namespace ksweep::cli
