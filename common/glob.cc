#include "common/glob.h"

#include <fnmatch.h>

namespace ksweep {

bool GlobMatch(std::string_view pattern, std::string_view text, bool case_insensitive, Backslash backslash) {
  // fnmatch needs NUL-terminated strings; patterns and names are short.
  const std::string p(pattern);
  const std::string t(text);
  const int flags = (case_insensitive ? FNM_CASEFOLD : 0) | (backslash == Backslash::kLiteral ? FNM_NOESCAPE : 0);
  return fnmatch(p.c_str(), t.c_str(), flags) == 0;
}

bool HasGlobMeta(std::string_view pattern) {
  return pattern.find_first_of("*?[") != std::string_view::npos;
}

Status ValidateGlob(std::string_view pattern, Backslash backslash) {
  if (pattern.empty()) return Status::InvalidArgument("empty pattern");
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && backslash == Backslash::kEscapes) {
      if (i + 1 == pattern.size()) return Status::InvalidArgument("pattern ends in a lone backslash");
      ++i;
    } else if (c == '[') {
      size_t j = i + 1;
      if (j < pattern.size() && (pattern[j] == '!' || pattern[j] == '^')) ++j;
      if (j < pattern.size() && pattern[j] == ']') ++j;  // a leading ']' is literal
      while (j < pattern.size() && pattern[j] != ']') ++j;
      if (j >= pattern.size()) {
        return Status::InvalidArgument("unclosed '[' at offset " + std::to_string(i));
      }
      i = j;
    } else if (c == ']') {
      return Status::InvalidArgument("unmatched ']' at offset " + std::to_string(i));
    }
  }
  return Status::Ok();
}

}  // namespace ksweep
