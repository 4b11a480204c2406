#include "agent/daemon/watcher.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <tuple>

#include "agent/platform.h"
#include "common/glob.h"

namespace ksweep::agent {
namespace {

// Entries appearing, going, being renamed or changing mode (the executable bit matters to binary signals), and the
// folder itself going away. Plain reads never match, so a scan does not wake the watcher that triggered it.
constexpr uint32_t kEntryMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF |
                                IN_MOVE_SELF | IN_ONLYDIR | IN_MASK_ADD;
// On the nearest existing ancestor of a missing folder: only the next component appearing matters.
constexpr uint32_t kAncestorMask = IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR |
                                   IN_MASK_ADD;

std::string Parent(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

std::string LastComponent(const std::string& path) { return path.substr(path.rfind('/') + 1); }

}  // namespace

std::vector<WatchTarget> WatchTargetsFor(const v1::RuleSet& rules, v1::Platform platform) {
  std::vector<WatchTarget> targets;
  for (const InventoryPlace& place : PlatformSpecOf(platform).inventory) {
    targets.push_back({std::string(place.dir), std::string(place.name_glob), place.contents});
  }
  for (const auto& product : rules.products()) {
    if (product.platform() != platform) continue;
    for (const auto& signal : product.signals()) {
      const bool is_path = signal.kind() == v1::SIGNAL_KIND_PATH || signal.kind() == v1::SIGNAL_KIND_BINARY;
      if (!is_path || signal.pattern().size() < 2 || signal.pattern().front() != '/') continue;
      targets.push_back({Parent(signal.pattern()), LastComponent(signal.pattern()), false});
    }
    for (const auto& source : product.version_sources()) {
      if (source.file().size() < 2 || source.file().front() != '/') continue;
      targets.push_back({Parent(source.file()), LastComponent(source.file()), true});
    }
  }

  std::set<std::tuple<std::string, std::string, bool>> seen;
  std::vector<WatchTarget> unique;
  for (auto& target : targets) {
    if (seen.emplace(target.dir, target.name_glob, target.contents).second) unique.push_back(std::move(target));
  }
  return unique;
}

Result<std::unique_ptr<FileWatcher>> FileWatcher::Create(boost::asio::io_context& io, LoggerPtr log) {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return Status::Unavailable(std::string("inotify_init1: ") + std::strerror(errno));
  return std::unique_ptr<FileWatcher>(new FileWatcher(io, fd, std::move(log)));
}

FileWatcher::FileWatcher(boost::asio::io_context& io, int fd, LoggerPtr log) : stream_(io, fd), log_(std::move(log)) {}

void FileWatcher::Arm(const Root& root, const std::vector<WatchTarget>& targets) {
  if (!stream_.is_open()) return;
  names_ignore_case_ = root.case_insensitive();
  for (const auto& [wd, watch] : watches_) ::inotify_rm_watch(stream_.native_handle(), wd);
  watches_.clear();
  warned_limit_ = false;

  for (const auto& target : targets) {
    std::string dir = target.dir;
    std::string name_glob = target.name_glob;
    bool exists = true;
    for (;;) {
      const auto info = root.Stat(dir);
      if (info.ok() && info->is_dir) break;
      if (dir == "/") break;
      // Watch the parent for the component that leads to the target.
      name_glob = LastComponent(dir);
      dir = Parent(dir);
      exists = false;
    }
    const auto host_path = root.Resolve(dir);
    if (!host_path.ok()) {
      log_->debug("event=watch_skipped dir={} reason=\"{}\"", dir, host_path.status().message());
      continue;
    }
    const uint32_t mask = exists ? kEntryMask | (target.contents ? IN_CLOSE_WRITE : 0u) : kAncestorMask;
    AddWatch(*host_path, mask, name_glob);
  }
  log_->debug("event=watches_armed count={}", watches_.size());
}

void FileWatcher::AddWatch(const std::string& host_path, uint32_t mask, const std::string& name_glob) {
  if (watches_.size() >= kMaxWatches) {
    if (!warned_limit_) {
      log_->warn("event=watch_limit limit={} skipped={} note=\"changes there are seen at the next interval scan\"",
                 kMaxWatches, host_path);
      warned_limit_ = true;
    }
    return;
  }
  const int wd = ::inotify_add_watch(stream_.native_handle(), host_path.c_str(), mask);
  if (wd < 0) {
    // ENOSPC: fs.inotify.max_user_watches is exhausted by other programs.
    log_->warn("event=watch_failed path={} error=\"{}\"", host_path, std::strerror(errno));
    return;
  }
  Watch& watch = watches_[wd];
  watch.host_path = host_path;
  if (name_glob.empty()) {
    watch.any_name = true;
  } else {
    watch.name_globs.push_back(name_glob);
  }
}

void FileWatcher::Start(ChangeHandler on_change) {
  on_change_ = std::move(on_change);
  ReadMore();
}

void FileWatcher::Close() {
  boost::system::error_code ignored;
  stream_.close(ignored);
  watches_.clear();
}

std::optional<std::string> FileWatcher::Relevant(const inotify_event& event, const std::string& name) const {
  if ((event.mask & IN_Q_OVERFLOW) != 0) return "(inotify queue overflow)";  // events were lost: assume the worst
  const auto it = watches_.find(event.wd);
  if (it == watches_.end()) return std::nullopt;  // a watch removed by the last Arm
  const Watch& watch = it->second;
  if (name.empty()) return watch.host_path;  // the folder itself changed or went away
  bool matches = watch.any_name;
  for (const auto& glob : watch.name_globs) matches = matches || GlobMatch(glob, name, names_ignore_case_);
  if (!matches) return std::nullopt;
  return watch.host_path + "/" + name;
}

void FileWatcher::ReadMore() {
  stream_.async_read_some(boost::asio::buffer(buffer_), [this](const boost::system::error_code& ec, size_t size) {
    if (ec == boost::asio::error::operation_aborted || !stream_.is_open()) return;
    if (ec) {
      log_->error("event=watcher_failed error=\"{}\" note=\"only interval scans from now on\"", ec.message());
      return;
    }
    std::optional<std::string> changed;
    size_t offset = 0;
    while (offset + sizeof(inotify_event) <= size) {
      inotify_event event;
      std::memcpy(&event, buffer_.data() + offset, sizeof event);
      const char* name_start = buffer_.data() + offset + sizeof event;
      const size_t name_room = std::min<size_t>(event.len, size - offset - sizeof event);
      const std::string name(name_start, ::strnlen(name_start, name_room));
      if (auto path = Relevant(event, name)) {
        log_->debug("event=file_event path={} mask={:#x}", *path, event.mask);
        if (!changed) changed = std::move(path);
      }
      offset += sizeof event + event.len;
    }
    if (changed && on_change_) on_change_(*changed);
    ReadMore();
  });
}

}  // namespace ksweep::agent
