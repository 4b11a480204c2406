// Shell-style patterns (`kl*`, `kesl-?ui`, `[a-z]*`) as the rules use them.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace ksweep {

enum class Backslash {
  kEscapes,  // `\*` is a literal star, as in the shell (Linux names)
  kLiteral,  // `\` is itself: Windows paths and registry keys (`*\Kaspersky Lab\*`)
};

// True when `text` matches the glob `pattern` as a whole. `*` and `?` match any character, '/' included.
bool GlobMatch(std::string_view pattern, std::string_view text, bool case_insensitive = false,
               Backslash backslash = Backslash::kEscapes);

// A pattern is valid when it is non-empty, its brackets close and (where backslash escapes) it does not end in a
// lone backslash.
Status ValidateGlob(std::string_view pattern, Backslash backslash = Backslash::kEscapes);

bool HasGlobMeta(std::string_view pattern);

}  // namespace ksweep
