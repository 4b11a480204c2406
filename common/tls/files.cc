#include "common/tls/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

namespace ksweep::tls {
namespace {

std::string ErrnoText(int err) { return std::strerror(err); }

std::string DirName(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

Status WriteFileAtomic(const std::string& path, std::string_view content, mode_t mode) {
  // A random suffix: two writers (or a stale temp file from a crash) never share a temp name, and O_EXCL refuses a
  // name someone planted.
  std::random_device rd;
  const std::string temp = path + ".tmp." + std::to_string(rd());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return Status::IoError("create '" + temp + "': " + ErrnoText(errno));
  Status status;
  if (::fchmod(fd, mode) != 0) status = Status::IoError("chmod '" + temp + "': " + ErrnoText(errno));
  std::string_view rest = content;
  while (status.ok() && !rest.empty()) {
    const ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      status = Status::IoError("write '" + temp + "': " + ErrnoText(errno));
      break;
    }
    rest.remove_prefix(static_cast<size_t>(n));
  }
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
  const std::string dir = DirName(path);
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return Status::IoError("open folder '" + dir + "': " + ErrnoText(errno));
  status = ::fsync(dir_fd) == 0 ? Status::Ok() : Status::IoError("fsync folder '" + dir + "': " + ErrnoText(errno));
  ::close(dir_fd);
  return status;
}

Result<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return Status::NotFound("'" + path + "': no such file");
    return Status::IoError("open '" + path + "': " + ErrnoText(err));
  }
  std::string out;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return Status::IoError("read '" + path + "': " + ErrnoText(err));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) {
      ::close(fd);
      return Status::InvalidArgument("'" + path + "': larger than " + std::to_string(max_bytes) + " bytes");
    }
  }
  ::close(fd);
  return out;
}

Status MakeDir(const std::string& dir, mode_t mode) {
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return Status::Ok();
  const std::string parent = DirName(dir);
  if (parent != dir && parent != "." && parent != "/") {
    std::filesystem::create_directories(parent, ec);
    if (ec) return Status::IoError("create folder '" + parent + "': " + ec.message());
  }
  if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) {
    return Status::IoError("create folder '" + dir + "': " + ErrnoText(errno));
  }
  if (!std::filesystem::is_directory(dir, ec)) return Status::IoError("'" + dir + "': not a folder");
  return Status::Ok();
}

}  // namespace ksweep::tls
