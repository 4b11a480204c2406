// The filesystem seam: every probe reads the scanned machine through a Root, never through raw paths.
// In production the Root is "/" (the live host) or a mounted image / container root; tests hand in a fixture root
// made with the real dpkg and rpm. Paths inside the root are resolved as the scanned system would see them:
// absolute symlinks are taken relative to the root, and nothing resolves outside it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "ksweep/v1/rules.pb.h"

namespace ksweep::agent {

struct DirEntry {
  std::string name;
  bool is_dir = false;  // from d_type where the filesystem gives it, else unknown (false)
};

struct FileInfo {
  bool is_dir = false;
  bool is_regular = false;
  bool executable = false;  // any x bit
  uint64_t size = 0;
  mode_t mode = 0;
};

class Root {
 public:
  // `path` is the scanned root; "/" means the live host (processes and kernel modules are readable).
  // The platform is recognised from what the root holds (agent/platform.h): a Windows or macOS system root is
  // read with names compared without case, as its own system compares them.
  explicit Root(std::string path);

  const std::string& path() const { return path_; }
  bool live() const { return live_; }
  v1::Platform platform() const { return platform_; }
  bool case_insensitive() const { return case_insensitive_; }

  // A host path (on the real filesystem) for `inside` (an absolute path as the scanned system sees it), with every
  // symlink resolved inside the root. Fails on loops, dangling links and non-absolute input.
  Result<std::string> Resolve(std::string_view inside) const;

  // Reads at most `max_bytes`; a larger file is an error naming the path and the limit.
  Result<std::string> ReadFile(std::string_view inside, size_t max_bytes) const;
  // Streams a file in chunks (for inputs that may be huge, like a dpkg status file); at most `max_bytes` in all.
  Status ReadChunks(std::string_view inside, size_t max_bytes,
                    const std::function<void(std::string_view)>& on_chunk) const;
  Result<FileInfo> Stat(std::string_view inside) const;
  Result<std::vector<DirEntry>> ListDir(std::string_view inside) const;
  bool Exists(std::string_view inside) const { return Stat(inside).ok(); }

  // How the scanned system writes `inside`: `C:\Program Files\Kaspersky Lab` on Windows, unchanged elsewhere.
  std::string Display(std::string_view inside) const;

  // Checks the root itself is a readable folder.
  Status Check() const;

 private:
  // Finds `name` in the host folder `dir` ignoring ASCII case: the name as stored, or "" when absent.
  static std::string FindIgnoringCase(const std::string& dir, const std::string& name);
  Result<std::string> ResolveWith(std::string_view inside, bool case_insensitive) const;

  std::string path_;  // without trailing slash, "" for "/"
  bool live_ = false;
  v1::Platform platform_ = v1::PLATFORM_UNSPECIFIED;
  bool case_insensitive_ = false;
};

// Where the live kernel's views are: always the real /proc, only meaningful when Root::live().
constexpr std::string_view kProcDir = "/proc";

}  // namespace ksweep::agent
