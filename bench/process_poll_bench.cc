// Cost of one poll of the agent's process watcher (agent/daemon/process_watcher.h) on this machine's real /proc with
// the built-in rules: wall and CPU microseconds per poll, and the number of processes it read. `--spawn=N` starts N
// extra processes (sleep) first, to see how the cost grows with the process table; they are killed at the end.
// Usage: process_poll_bench [--polls=2000] [--spawn=0]
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "agent/daemon/process_watcher.h"
#include "common/rules.h"

namespace {

using namespace ksweep;  // NOLINT: a benchmark's main file
using Clock = std::chrono::steady_clock;

int CountProcesses() {
  int n = 0;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return -1;
  while (const dirent* e = ::readdir(dir)) n += (e->d_name[0] >= '0' && e->d_name[0] <= '9') ? 1 : 0;
  ::closedir(dir);
  return n;
}

double CpuMicros() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6 +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

}  // namespace

int main(int argc, char** argv) {
  int polls = 2000;
  int spawn = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--polls=", 8) == 0) {
      polls = std::atoi(argv[i] + 8);
    } else if (std::strncmp(argv[i], "--spawn=", 8) == 0) {
      spawn = std::atoi(argv[i] + 8);
    } else {
      std::fprintf(stderr, "usage: process_poll_bench [--polls=2000] [--spawn=0]\n");
      return 2;
    }
  }
  if (polls < 1 || spawn < 0) {
    std::fprintf(stderr, "process_poll_bench: --polls must be positive and --spawn not negative\n");
    return 2;
  }
  auto rules = BuiltinRules();
  if (!rules.ok()) {
    std::fprintf(stderr, "process_poll_bench: %s\n", rules.status().message().c_str());
    return 1;
  }

  std::vector<pid_t> children;
  for (int i = 0; i < spawn; ++i) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::execl("/bin/sleep", "sleep", "600", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    if (pid > 0) children.push_back(pid);
  }

  boost::asio::io_context io;
  const auto shared = std::make_shared<const v1::RuleSet>(*rules);
  agent::ProcessWatcher watcher(io, "/proc", std::chrono::seconds(5), [&] { return shared; }, NullLogger());
  for (int i = 0; i < 20; ++i) watcher.Poll();  // warm-up: opens /proc, makes the globs

  // Batches of 50 polls: the median batch is what a poll costs when the machine is not busy elsewhere.
  constexpr int kBatch = 50;
  std::vector<double> per_poll_us;
  const double cpu_before = CpuMicros();
  const auto wall_before = Clock::now();
  for (int done = 0; done < polls; done += kBatch) {
    const auto start = Clock::now();
    for (int i = 0; i < kBatch; ++i) watcher.Poll();
    per_poll_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count() / kBatch);
  }
  const double cpu_us = (CpuMicros() - cpu_before) / (static_cast<double>(per_poll_us.size()) * kBatch);
  const double wall_us = std::chrono::duration<double, std::micro>(Clock::now() - wall_before).count() /
                         (static_cast<double>(per_poll_us.size()) * kBatch);
  std::sort(per_poll_us.begin(), per_poll_us.end());
  const int processes = CountProcesses();

  for (const pid_t pid : children) ::kill(pid, SIGKILL);
  for (const pid_t pid : children) ::waitpid(pid, nullptr, 0);

  std::printf("processes in /proc: %d (%d spawned), matching the built-in rules: %zu\n", processes, spawn,
              watcher.matching().size());
  std::printf("polls: %zu\n", per_poll_us.size() * kBatch);
  std::printf("wall per poll: median %.1f us, min %.1f us, max %.1f us (batches of %d), mean %.1f us\n",
              per_poll_us[per_poll_us.size() / 2], per_poll_us.front(), per_poll_us.back(), kBatch, wall_us);
  std::printf("cpu per poll (user+sys): %.1f us; at one poll every 5 s: %.4f %% of one core\n", cpu_us,
              cpu_us / 5e6 * 100.0);
  return 0;
}
