// Files that hold keys, certificates and secret hashes: created with their final mode from the first byte (never
// chmod after the fact), written whole (temp file, fsync, rename, fsync of the folder) so a crash leaves the old
// file or the new one, never half a key.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ksweep::tls {

inline constexpr mode_t kPrivateMode = 0600;  // private keys, secret hashes, certificate databases
inline constexpr mode_t kPublicMode = 0644;   // certificates

// Writes `content` to `path` with `mode`. The temp file is opened O_CREAT|O_EXCL so a planted file or link is never
// followed; the umask cannot widen `mode` (only narrow it, which fchmod undoes).
Status WriteFileAtomic(const std::string& path, std::string_view content, mode_t mode);

// Reads a whole file of at most `max_bytes`. NotFound when missing; errors name the path.
Result<std::string> ReadFile(const std::string& path, size_t max_bytes = 1 << 20);

// Creates `dir` (and parents) when missing; a folder it creates gets `mode`. An existing one is left as it is.
Status MakeDir(const std::string& dir, mode_t mode);

}  // namespace ksweep::tls
