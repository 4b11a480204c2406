// Bounds a property list before libplist parses it, so a hostile or corrupt file cannot make it crash, hang or
// take unbounded memory. libplist 2.2.0 (Debian 12), read for this:
// - binary plists: it copies a shared object at every reference (a few hundred bytes of arrays that each name the
//   next one twice expand to 2^n values), recurses once per nesting level, and its cycle check walks the whole
//   chain of ancestors at every value (quadratic in the depth); it does reject a reference back to an ancestor;
// - XML plists: its parser is iterative, but freeing any tree recurses once per level, so a deep file overflows the
//   stack when it is freed.
// These checks read only the structure (no values) and refuse what lies outside the bounds below.
#pragma once

#include <cstddef>
#include <string_view>

#include "common/status.h"

namespace ksweep::agent {

// Arrays and dictionaries inside each other. Real plists nest a handful of levels (launchd jobs 3, Info.plist 5).
inline constexpr int kMaxPlistDepth = 64;
// Values of the parsed tree (dictionary keys included), counting a shared binary object once per reference.
// A large app's Info.plist holds a few thousand.
inline constexpr size_t kMaxPlistNodes = 100'000;

// A binary plist ("bplist00"): the trailer and offset table lie inside the file, every object reachable from the top
// object lies before the offset table with all its bytes and references, no object contains itself (a reference
// cycle), and the tree libplist would build stays within kMaxPlistDepth and kMaxPlistNodes.
// InvalidArgument with the reason ("truncated", "cyclic", ...) otherwise; the message does not name the file.
Status CheckBinaryPlist(std::string_view bytes);

// An XML plist: nesting of <array>/<dict> within kMaxPlistDepth and at most kMaxPlistNodes elements. A bound, not a
// validation (libplist validates); comments, CDATA, processing instructions and the DOCTYPE are skipped.
Status CheckXmlPlist(std::string_view bytes);

}  // namespace ksweep::agent
