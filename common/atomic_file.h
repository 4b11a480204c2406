// Whole-file replacement that survives a crash or power loss (temp file, fsync, rename, fsync of the folder): a reader
// sees the old content or the new, never a mix. The agent's state folder and the TLS keys and certificates both go
// through here.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ksweep {

// How the temp file beside the target is named.
enum class TempName {
  // `path.tmp`, truncated when it exists: a temp file left by a crash is overwritten by the next write and never
  // accumulates. For folders only this process writes into (the agent's state folder relies on the name).
  kFixed,
  // `path.tmp.<random>`, opened O_EXCL|O_NOFOLLOW: two writers never share a temp file and a file or link someone
  // planted is never followed. For keys, certificates and secrets.
  kUnique,
};

struct AtomicWriteOptions {
  // The file has exactly this mode from its first byte: the umask cannot widen it, and fchmod undoes a narrowing.
  mode_t mode = 0600;
  TempName temp_name = TempName::kFixed;
};

// Writes `content` to a temp file beside `path`, fsyncs it, renames it over `path` and fsyncs the folder. Errors name
// the file and the step that failed; the temp file is removed on failure.
Status WriteFileAtomic(const std::string& path, std::string_view content, const AtomicWriteOptions& options = {});

// Reads a whole file of at most `max_bytes`. NotFound when it does not exist; a larger file is an error naming the
// path and the limit.
Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes);

}  // namespace ksweep
