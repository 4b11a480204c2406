#include "common/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace ksweep {
namespace {

std::string ErrnoText(int err) { return std::strerror(err); }

std::string DirName(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Opens the temp file for `path`; sets `temp` to its name either way, for the caller's messages.
int OpenTemp(const std::string& path, const AtomicWriteOptions& options, std::string& temp) {
  if (options.temp_name == TempName::kFixed) {
    temp = path + ".tmp";
    return ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, options.mode);
  }
  std::random_device rd;
  temp = path + ".tmp." + std::to_string(rd());
  return ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, options.mode);
}

Status WriteAll(int fd, std::string_view content, const std::string& path) {
  while (!content.empty()) {
    const ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IoError("write '" + path + "': " + ErrnoText(errno));
    }
    content.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

// The rename is durable only once the folder entry is on disk.
Status SyncFolderOf(const std::string& path) {
  const std::string dir = DirName(path);
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return Status::IoError("open folder '" + dir + "': " + ErrnoText(errno));
  Status status =
      ::fsync(dir_fd) == 0 ? Status::Ok() : Status::IoError("fsync folder '" + dir + "': " + ErrnoText(errno));
  ::close(dir_fd);
  return status;
}

}  // namespace

Status WriteFileAtomic(const std::string& path, std::string_view content, const AtomicWriteOptions& options) {
  std::string temp;
  const int fd = OpenTemp(path, options, temp);
  if (fd < 0) return Status::IoError("create '" + temp + "': " + ErrnoText(errno));
  Status status;
  if (::fchmod(fd, options.mode) != 0) status = Status::IoError("chmod '" + temp + "': " + ErrnoText(errno));
  if (status.ok()) status = WriteAll(fd, content, temp);
  if (status.ok() && ::fsync(fd) != 0) status = Status::IoError("fsync '" + temp + "': " + ErrnoText(errno));
  if (::close(fd) != 0 && status.ok()) status = Status::IoError("close '" + temp + "': " + ErrnoText(errno));
  if (!status.ok()) {
    ::unlink(temp.c_str());
    return status;
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    return Status::IoError("rename '" + temp + "' to '" + path + "': " + ErrnoText(err));
  }
  return SyncFolderOf(path);
}

Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return Status::NotFound("'" + path + "' does not exist");
    return Status::IoError("open '" + path + "': " + ErrnoText(err));
  }
  std::string content;
  char buffer[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return Status::IoError("read '" + path + "': " + ErrnoText(err));
    }
    if (n == 0) break;
    if (content.size() + static_cast<size_t>(n) > max_bytes) {
      ::close(fd);
      return Status::InvalidArgument("'" + path + "' is larger than the limit of " + std::to_string(max_bytes) +
                                     " bytes");
    }
    content.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return content;
}

}  // namespace ksweep
