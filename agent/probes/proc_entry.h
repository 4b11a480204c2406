// Reading /proc/PID entries: shared by the process probe (a scan) and the daemon's process watcher (a poll).
#pragma once

#include <string_view>

namespace ksweep::agent {

// A /proc folder name as a pid, or -1 for anything else (self, sys, ...). Pids stop at 2^22 on Linux: a longer run
// of digits is not one.
inline int PidOf(std::string_view name) {
  if (name.empty()) return -1;
  int pid = 0;
  for (char c : name) {
    if (c < '0' || c > '9' || pid > 100'000'000) return -1;
    pid = pid * 10 + (c - '0');
  }
  return pid;
}

// A process name as read from /proc/PID/comm, without the newline (or NUL) the kernel ends it with.
inline std::string_view CommName(std::string_view raw) {
  while (!raw.empty() && (raw.back() == '\n' || raw.back() == '\0')) raw.remove_suffix(1);
  return raw;
}

}  // namespace ksweep::agent
