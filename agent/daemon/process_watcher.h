// Tells the daemon when a process the rules name starts or stops, so a `kesl` started or killed is reported within
// seconds rather than at the next interval scan: a process raises no file event. Every few seconds it reads only the
// names (/proc/PID/comm) and compares the processes matching the rules' process signals with the previous poll.
//
// Polling, not the netlink proc connector: that needs CAP_NET_ADMIN, reports every fork and exec of the whole host
// (far more wake-ups than a poll on a busy machine), and drops events under load, so a poll would be needed anyway.
//
// The first poll only takes a baseline. The daemon takes it before the start scan reads anything: a process present
// then is seen by that scan, one that starts or stops after it changes the next poll.
#pragma once

#include <dirent.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/logging.h"
#include "common/status.h"
#include "ksweep/v1/rules.pb.h"

namespace ksweep::agent {

// The kernel keeps a process name (comm) to this many bytes: the executable's file name, cut.
inline constexpr size_t kMaxCommBytes = 15;

// Globs on /proc/PID/comm for every process signal: name patterns as they are; executable-path patterns by their
// last component (comm is the executable's file name), a literal one cut to kMaxCommBytes. Sorted, no duplicates.
std::vector<std::string> ProcessNameGlobs(const v1::RuleSet& rules);

struct WatchedProcess {
  int pid = 0;
  std::string name;
  friend bool operator==(const WatchedProcess&, const WatchedProcess&) = default;
};

class ProcessWatcher {
 public:
  // What the daemon holds now: the rules are asked for at every poll, so rules the collector pushes are honoured.
  using RulesSource = std::function<std::shared_ptr<const v1::RuleSet>()>;
  // Gets what changed ("kesl pid 812 started"), for the log.
  using ChangeHandler = std::function<void(const std::string& what)>;

  // `proc_dir` is "/proc" in production, a fixture folder of PID/comm files in tests.
  ProcessWatcher(boost::asio::io_context& io, std::string proc_dir, std::chrono::milliseconds interval,
                 RulesSource rules, LoggerPtr log);
  ~ProcessWatcher();
  ProcessWatcher(const ProcessWatcher&) = delete;
  ProcessWatcher& operator=(const ProcessWatcher&) = delete;

  // Takes the baseline now, then polls every interval on the event loop and calls `on_change` there, until Close().
  void Start(ChangeHandler on_change);
  void Close();

  // One poll: what changed since the previous one, or nullopt (also for the first poll, and when /proc cannot be
  // read: that is logged once). The timer calls it; tests call it directly.
  std::optional<std::string> Poll();

  const std::vector<WatchedProcess>& matching() const { return current_; }

 private:
  void ArmTimer(std::chrono::steady_clock::duration delay);
  // Fills `next_` with the matching processes by pid; false when the folder cannot be read.
  bool ReadMatching();

  boost::asio::steady_timer timer_;
  const std::string proc_dir_;
  const std::chrono::milliseconds interval_;
  const RulesSource rules_;
  const LoggerPtr log_;
  ChangeHandler on_change_;
  bool running_ = false;

  DIR* dir_ = nullptr;  // kept open and rewound: a poll allocates nothing unless a match is found
  bool warned_unreadable_ = false;
  bool warned_slow_ = false;
  std::shared_ptr<const v1::RuleSet> rules_seen_;  // the rules `globs_` were made from
  std::vector<std::string> globs_;
  bool have_baseline_ = false;
  std::vector<WatchedProcess> current_;  // by pid, as of the last poll that could read the folder
  std::vector<WatchedProcess> next_;     // reused by every poll
};

}  // namespace ksweep::agent
