#include "agent/daemon/process_watcher.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "agent/probes/proc_entry.h"
#include "common/glob.h"

namespace ksweep::agent {
namespace {

// Past this many changes in one poll the log line says how many more: a fork bomb of `kesl` must not make it huge.
constexpr size_t kMaxChangesDescribed = 8;
// A poll takes about 7 us per process here (open, read, close of /proc/PID/comm: docs/BENCHMARKS.md). On a host with
// tens of thousands of processes the next poll waits at least this many times the last one's duration, so polling
// stays under 1 % of a core however large the process table is.
constexpr int kPollDurationFactor = 100;

bool Matches(const std::vector<std::string>& globs, std::string_view name) {
  return std::any_of(globs.begin(), globs.end(), [&](const std::string& g) { return GlobMatch(g, name); });
}

}  // namespace

std::vector<std::string> ProcessNameGlobs(const v1::RuleSet& rules) {
  std::vector<std::string> globs;
  for (const auto& product : rules.products()) {
    for (const auto& signal : product.signals()) {
      if (signal.kind() != v1::SIGNAL_KIND_PROCESS || signal.pattern().empty()) continue;
      const std::string& pattern = signal.pattern();
      if (pattern.front() != '/') {
        globs.push_back(pattern);
        continue;
      }
      std::string last = pattern.substr(pattern.rfind('/') + 1);
      if (last.empty()) continue;
      // A longer glob is kept whole: it may then miss a cut name, which the interval scan still sees.
      if (!HasGlobMeta(last) && last.size() > kMaxCommBytes) last.resize(kMaxCommBytes);
      globs.push_back(std::move(last));
    }
  }
  std::sort(globs.begin(), globs.end());
  globs.erase(std::unique(globs.begin(), globs.end()), globs.end());
  return globs;
}

ProcessWatcher::ProcessWatcher(boost::asio::io_context& io, std::string proc_dir, std::chrono::milliseconds interval,
                               RulesSource rules, LoggerPtr log)
    : timer_(io), proc_dir_(std::move(proc_dir)), interval_(interval), rules_(std::move(rules)), log_(std::move(log)) {}

ProcessWatcher::~ProcessWatcher() {
  if (dir_ != nullptr) ::closedir(dir_);
}

void ProcessWatcher::Start(ChangeHandler on_change) {
  on_change_ = std::move(on_change);
  running_ = true;
  Poll();
  log_->info("event=process_watch_started proc={} interval_ms={} names={} matching={}", proc_dir_,
             interval_.count(), globs_.size(), current_.size());
  ArmTimer(interval_);
}

void ProcessWatcher::Close() {
  running_ = false;
  timer_.cancel();
}

void ProcessWatcher::ArmTimer(std::chrono::steady_clock::duration delay) {
  timer_.expires_after(delay);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || !running_) return;
    const auto started = std::chrono::steady_clock::now();
    auto what = Poll();
    const auto took = std::chrono::steady_clock::now() - started;
    if (what && on_change_) on_change_(*what);
    const std::chrono::steady_clock::duration bound = took * kPollDurationFactor;
    if (bound > interval_ && !warned_slow_) {
      warned_slow_ = true;
      log_->info("event=process_poll_stretched took_us={} processes_matching={} next_in_ms={} note=\"a large process "
                 "table: polls are spaced to stay under 1 % of a core\"",
                 std::chrono::duration_cast<std::chrono::microseconds>(took).count(), current_.size(),
                 std::chrono::duration_cast<std::chrono::milliseconds>(bound).count());
    }
    ArmTimer(std::max<std::chrono::steady_clock::duration>(interval_, bound));
  });
}

bool ProcessWatcher::ReadMatching() {
  if (dir_ == nullptr) {
    dir_ = ::opendir(proc_dir_.c_str());
    if (dir_ == nullptr) {
      if (!warned_unreadable_) {
        log_->warn("event=process_watch_unreadable path={} error=\"{}\" note=\"process changes are seen at interval "
                   "scans only\"",
                   proc_dir_, std::strerror(errno));
        warned_unreadable_ = true;
      }
      return false;
    }
  } else {
    ::rewinddir(dir_);
  }
  next_.clear();
  char path[64];
  char comm[64];
  while (const dirent* entry = ::readdir(dir_)) {
    const int pid = PidOf(entry->d_name);
    if (pid < 0) continue;
    std::snprintf(path, sizeof path, "%d/comm", pid);
    const int fd = ::openat(::dirfd(dir_), path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;  // exited since the listing
    const ssize_t n = ::read(fd, comm, sizeof comm);
    ::close(fd);
    if (n <= 0) continue;
    const std::string_view name = CommName(std::string_view(comm, static_cast<size_t>(n)));
    if (Matches(globs_, name)) next_.push_back({pid, std::string(name)});
  }
  std::sort(next_.begin(), next_.end(), [](const auto& a, const auto& b) { return a.pid < b.pid; });
  return true;
}

std::optional<std::string> ProcessWatcher::Poll() {
  if (auto rules = rules_(); rules != rules_seen_) {
    // New rules may match processes already running: the comparison below then reports them, and the rescan it
    // asks for is what makes a process started before the new rules arrived certain to be seen.
    rules_seen_ = std::move(rules);
    globs_ = rules_seen_ ? ProcessNameGlobs(*rules_seen_) : std::vector<std::string>{};
  }
  if (!ReadMatching()) return std::nullopt;
  if (!have_baseline_) {
    have_baseline_ = true;
    current_.swap(next_);
    return std::nullopt;
  }
  if (next_ == current_) return std::nullopt;

  std::string what;
  size_t changes = 0;
  const auto note = [&](const WatchedProcess& p, const char* how) {
    if (++changes > kMaxChangesDescribed) return;
    if (!what.empty()) what += ", ";
    what += p.name + " pid " + std::to_string(p.pid) + " " + how;
  };
  auto old_it = current_.begin();
  auto new_it = next_.begin();
  while (old_it != current_.end() || new_it != next_.end()) {
    if (new_it == next_.end() || (old_it != current_.end() && old_it->pid < new_it->pid)) {
      note(*old_it++, "stopped");
    } else if (old_it == current_.end() || new_it->pid < old_it->pid) {
      note(*new_it++, "started");
    } else {
      if (old_it->name != new_it->name) {  // the same pid exec'd into another matching name
        note(*old_it, "stopped");
        note(*new_it, "started");
      }
      ++old_it;
      ++new_it;
    }
  }
  if (changes > kMaxChangesDescribed) what += " and " + std::to_string(changes - kMaxChangesDescribed) + " more";
  current_.swap(next_);
  return what;
}

}  // namespace ksweep::agent
