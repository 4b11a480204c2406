// Tells the daemon when what a scan reads may have changed, so a removal is reported within seconds rather than at
// the next interval: inotify on the package databases, the service folders and the folders the rules point at, all
// under the scanned root.
//
// inotify is not recursive and cannot watch what does not exist yet, so a missing folder is watched through its
// nearest existing ancestor, filtered on the next path component. The daemon re-arms every watch right before each
// scan: whatever changed between an event and the re-arm is then seen by that scan, whatever changes after is seen by
// the new watches, so nothing falls between the two.
#pragma once

#include <sys/inotify.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <array>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/root.h"
#include "common/logging.h"
#include "common/status.h"
#include "ksweep/v1/rules.pb.h"

namespace ksweep::agent {

// More are skipped with a warning (the interval scan still covers them): a bound on kernel memory and wake-ups.
inline constexpr size_t kMaxWatches = 256;

struct WatchTarget {
  std::string dir;        // absolute, as the scanned system sees it
  std::string name_glob;  // only entries matching this; empty: any entry
  bool contents = false;  // also in-place rewrites (package databases), not only entries appearing and going
};

// Where `platform` records installs (agent/platform.h: package databases, service folders, hives, launchd folders)
// and the folder of every path, binary and version file the rules of that platform name.
std::vector<WatchTarget> WatchTargetsFor(const v1::RuleSet& rules, v1::Platform platform);

class FileWatcher {
 public:
  // Gets the first relevant path of a batch of events, for the log.
  using ChangeHandler = std::function<void(const std::string& path)>;

  // Fails when the kernel refuses an inotify instance (fs.inotify.max_user_instances).
  static Result<std::unique_ptr<FileWatcher>> Create(boost::asio::io_context& io, LoggerPtr log);

  // Replaces every watch by watches for `targets` under `root`. Folders that cannot be watched are logged and skipped.
  void Arm(const Root& root, const std::vector<WatchTarget>& targets);

  // From now on, calls `on_change` on the event loop for each batch of events that concerns a target, until Close().
  void Start(ChangeHandler on_change);
  void Close();

  size_t watch_count() const { return watches_.size(); }

 private:
  struct Watch {
    std::string host_path;
    bool any_name = false;
    std::vector<std::string> name_globs;
  };

  FileWatcher(boost::asio::io_context& io, int fd, LoggerPtr log);
  void AddWatch(const std::string& host_path, uint32_t mask, const std::string& name_glob);
  void ReadMore();
  // The path an event concerns when it matters to a target, else nullopt.
  std::optional<std::string> Relevant(const inotify_event& event, const std::string& name) const;

  boost::asio::posix::stream_descriptor stream_;
  const LoggerPtr log_;
  ChangeHandler on_change_;
  std::map<int, Watch> watches_;  // by watch descriptor
  bool warned_limit_ = false;
  bool names_ignore_case_ = false;  // a Windows or macOS root: SOFTWARE and software are one hive
  alignas(inotify_event) std::array<char, 64 * 1024> buffer_{};
};

}  // namespace ksweep::agent
