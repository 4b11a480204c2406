#include "common/tls/files.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace ksweep::tls {

Status MakeDir(const std::string& dir, mode_t mode) {
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return Status::Ok();
  const std::string parent = std::filesystem::path(dir).parent_path().string();
  if (!parent.empty() && parent != dir && parent != "." && parent != "/") {
    std::filesystem::create_directories(parent, ec);
    if (ec) return Status::IoError("create folder '" + parent + "': " + ec.message());
  }
  if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) {
    return Status::IoError("create folder '" + dir + "': " + std::strerror(errno));
  }
  if (!std::filesystem::is_directory(dir, ec)) return Status::IoError("'" + dir + "': not a folder");
  return Status::Ok();
}

}  // namespace ksweep::tls
