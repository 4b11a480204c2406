// Files that hold keys, certificates and secret hashes: created with their final mode from the first byte (never
// chmod after the fact), written whole (temp file, fsync, rename, fsync of the folder) so a crash leaves the old
// file or the new one, never half a key.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "common/atomic_file.h"
#include "common/status.h"

namespace ksweep::tls {

inline constexpr mode_t kPrivateMode = 0600;  // private keys, secret hashes, certificate databases
inline constexpr mode_t kPublicMode = 0644;   // certificates

// Writes `content` to `path` with `mode` (common/atomic_file.h). The temp file has a unique name opened O_EXCL, so a
// planted file or link is never followed.
inline Status WriteFileAtomic(const std::string& path, std::string_view content, mode_t mode) {
  return ksweep::WriteFileAtomic(path, content, {.mode = mode, .temp_name = TempName::kUnique});
}

// Creates `dir` (and parents) when missing; a folder it creates gets `mode`. An existing one is left as it is.
Status MakeDir(const std::string& dir, mode_t mode);

}  // namespace ksweep::tls
