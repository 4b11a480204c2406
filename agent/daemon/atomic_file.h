// Whole-file replacement that survives a crash or power loss: the state folder holds the agent's promises (sequence
// numbers, the report not yet acknowledged), so a half-written file must never be what the next start reads.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ksweep::agent {

// Writes `content` to a temp file beside `path`, fsyncs it, renames it over `path` and fsyncs the folder: a reader
// sees the old content or the new, never a mix.
Status WriteFileAtomic(const std::string& path, std::string_view content);

// Reads a whole file of at most `max_bytes`. NotFound when it does not exist; a larger file is an error naming the
// path and the limit.
Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes);

}  // namespace ksweep::agent
