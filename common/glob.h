// Shell-style patterns (`kl*`, `kesl-?ui`, `[a-z]*`) as the rules use them.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace ksweep {

// True when `text` matches the glob `pattern` as a whole. `*` and `?` match any character, '/' included.
bool GlobMatch(std::string_view pattern, std::string_view text, bool case_insensitive = false);

// A pattern is valid when it is non-empty, its brackets close and it does not end in a lone backslash.
Status ValidateGlob(std::string_view pattern);

bool HasGlobMeta(std::string_view pattern);

}  // namespace ksweep
