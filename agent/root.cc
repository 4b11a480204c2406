#include "agent/root.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <strings.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "agent/platform.h"
#include "common/platform.h"

namespace ksweep::agent {
namespace {

// As the kernel's MAXSYMLINKS: more links than this on one path is a loop.
constexpr int kMaxSymlinks = 40;

std::string ErrnoText(int err) { return std::strerror(err); }

Status FromErrno(int err, const std::string& what) {
  if (err == ENOENT || err == ENOTDIR) return Status::NotFound(what + ": " + ErrnoText(err));
  if (err == EACCES || err == EPERM) return Status::PermissionDenied(what + ": " + ErrnoText(err));
  if (err == ELOOP) return Status::InvalidArgument(what + ": too many levels of symbolic links");
  return Status::IoError(what + ": " + ErrnoText(err));
}

struct FdCloser {
  void operator()(const int* fd) const {
    if (*fd >= 0) ::close(*fd);
    delete fd;
  }
};

}  // namespace

Root::Root(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (path.empty() || path == "/") {
    path_ = "/";
    live_ = true;
  } else {
    path_ = std::move(path);
  }
  platform_ = HostPlatform();
  if (!live_) {
    for (const PlatformSpec& spec : Platforms()) {
      platform_ = spec.platform;
      if (spec.marker.empty() || ResolveWith(spec.marker, true).ok()) break;
    }
  }
  // NTFS and APFS compare names without case, and a copy mounted on Linux keeps whatever case was written.
  case_insensitive_ = NamesIgnoreCase(platform_);
}

std::string Root::Display(std::string_view inside) const {
  if (platform_ != v1::PLATFORM_WINDOWS) return std::string(inside);
  std::string out = "C:";
  for (char c : inside) out.push_back(c == '/' ? '\\' : c);
  return out;
}

std::string Root::FindIgnoringCase(const std::string& dir, const std::string& name) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return {};
  std::string found;
  while (const dirent* e = ::readdir(d)) {
    if (::strcasecmp(e->d_name, name.c_str()) == 0) {
      found = e->d_name;
      break;
    }
  }
  ::closedir(d);
  return found;
}

Status Root::Check() const {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return FromErrno(errno, "root " + path_);
  if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument("root " + path_ + ": not a directory");
  if (::access(path_.c_str(), R_OK | X_OK) != 0) return FromErrno(errno, "root " + path_);
  return Status::Ok();
}

Result<std::string> Root::Resolve(std::string_view inside) const { return ResolveWith(inside, case_insensitive_); }

Result<std::string> Root::ResolveWith(std::string_view inside, bool case_insensitive) const {
  if (inside.empty() || inside.front() != '/') {
    return Status::InvalidArgument("path '" + std::string(inside) + "' is not absolute");
  }
  if (live_) return std::string(inside);

  // Walk component by component so absolute links land inside the root and '..' never climbs out of it,
  // as chroot(2) would see them (the kernel's openat2 RESOLVE_IN_ROOT is missing on the RHEL 8 kernels we serve).
  std::vector<std::string> resolved;  // components below the root
  std::string pending(inside);
  int links = 0;
  while (true) {
    size_t pos = 0;
    bool restarted = false;
    while (pos < pending.size()) {
      while (pos < pending.size() && pending[pos] == '/') ++pos;
      if (pos >= pending.size()) break;
      const size_t end = pending.find('/', pos);
      std::string comp = pending.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
      pos = end == std::string::npos ? pending.size() : end;
      if (comp == ".") continue;
      if (comp == "..") {
        if (!resolved.empty()) resolved.pop_back();
        continue;
      }
      std::string host = path_;
      for (const auto& c : resolved) host += "/" + c;
      host += "/" + comp;
      struct stat st {};
      if (::lstat(host.c_str(), &st) != 0) {
        const int err = errno;
        std::string stored;
        if (err == ENOENT && case_insensitive) {
          std::string parent = path_;
          for (const auto& c : resolved) parent += "/" + c;
          stored = FindIgnoringCase(parent, comp);
        }
        // The last missing component is fine for callers that check existence; report it as not found.
        if (stored.empty()) return FromErrno(err, std::string(inside));
        comp = std::move(stored);
        host = path_;
        for (const auto& c : resolved) host += "/" + c;
        host += "/" + comp;
        if (::lstat(host.c_str(), &st) != 0) return FromErrno(errno, std::string(inside));
      }
      if (S_ISLNK(st.st_mode)) {
        if (++links > kMaxSymlinks) {
          return Status::InvalidArgument(std::string(inside) + ": too many levels of symbolic links (loop?)");
        }
        std::string target(static_cast<size_t>(st.st_size > 0 ? st.st_size : 256) + 1, '\0');
        const ssize_t n = ::readlink(host.c_str(), target.data(), target.size());
        if (n < 0) return FromErrno(errno, std::string(inside));
        target.resize(static_cast<size_t>(n));
        const std::string rest = pending.substr(pos);
        if (!target.empty() && target.front() == '/') {
          resolved.clear();
          pending = target + rest;
        } else {
          std::string prefix;
          for (const auto& c : resolved) prefix += "/" + c;
          pending = prefix + "/" + target + rest;
          resolved.clear();
        }
        restarted = true;
        break;
      }
      resolved.push_back(std::move(comp));
    }
    if (!restarted) break;
  }
  std::string host = path_;
  for (const auto& c : resolved) host += "/" + c;
  return host;
}

Result<FileInfo> Root::Stat(std::string_view inside) const {
  auto host = Resolve(inside);
  if (!host.ok()) return host.status();
  struct stat st {};
  if (::stat(host->c_str(), &st) != 0) return FromErrno(errno, std::string(inside));
  FileInfo info;
  info.is_dir = S_ISDIR(st.st_mode);
  info.is_regular = S_ISREG(st.st_mode);
  info.executable = (st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) != 0;
  info.size = static_cast<uint64_t>(st.st_size);
  info.mode = st.st_mode;
  return info;
}

Status Root::ReadChunks(std::string_view inside, size_t max_bytes,
                        const std::function<void(std::string_view)>& on_chunk) const {
  auto host = Resolve(inside);
  if (!host.ok()) return host.status();
  const int fd = ::open(host->c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return FromErrno(errno, std::string(inside));
  std::unique_ptr<const int, FdCloser> guard(new int(fd));
  struct stat st {};
  if (::fstat(fd, &st) != 0) return FromErrno(errno, std::string(inside));
  if (S_ISDIR(st.st_mode)) return Status::InvalidArgument(std::string(inside) + ": is a directory");
  if (!S_ISREG(st.st_mode)) {
    // FIFOs, sockets and devices could block or never end; /proc files are regular.
    return Status::InvalidArgument(std::string(inside) + ": not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return Status::InvalidArgument(std::string(inside) + ": " + std::to_string(st.st_size) +
                                   " bytes, larger than the limit of " + std::to_string(max_bytes));
  }
  char buf[65536];
  size_t total = 0;
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return FromErrno(errno, std::string(inside));
    }
    if (n == 0) break;
    total += static_cast<size_t>(n);
    if (total > max_bytes) {
      return Status::InvalidArgument(std::string(inside) + ": larger than the limit of " + std::to_string(max_bytes) +
                                     " bytes");
    }
    on_chunk(std::string_view(buf, static_cast<size_t>(n)));
  }
  return Status::Ok();
}

Result<std::string> Root::ReadFile(std::string_view inside, size_t max_bytes) const {
  std::string data;
  Status st = ReadChunks(inside, max_bytes, [&data](std::string_view chunk) { data.append(chunk); });
  if (!st.ok()) return st;
  return data;
}

Result<std::vector<DirEntry>> Root::ListDir(std::string_view inside) const {
  auto host = Resolve(inside);
  if (!host.ok()) return host.status();
  DIR* dir = ::opendir(host->c_str());
  if (dir == nullptr) return FromErrno(errno, std::string(inside));
  std::vector<DirEntry> entries;
  errno = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    entries.push_back({e->d_name, e->d_type == DT_DIR});
  }
  const int err = errno;
  ::closedir(dir);
  if (err != 0) return FromErrno(err, std::string(inside));
  return entries;
}

}  // namespace ksweep::agent
