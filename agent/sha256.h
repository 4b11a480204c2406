#pragma once

#include <string>
#include <string_view>

#include "agent/root.h"
#include "common/status.h"

namespace ksweep::agent {

// SHA-256 (OpenSSL EVP) of a file under the root, streamed, lowercase hex.
Result<std::string> Sha256File(const Root& root, std::string_view inside, size_t max_bytes);

}  // namespace ksweep::agent
