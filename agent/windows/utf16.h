// Windows strings on disk are UTF-16LE; the agent speaks UTF-8.
#pragma once

#include <string>
#include <string_view>

namespace ksweep::agent {

// Decodes UTF-16LE (surrogate pairs included) to UTF-8. An unpaired surrogate becomes U+FFFD and an odd last byte
// is dropped: a name read from a disk is shown, never refused.
std::string Utf16leToUtf8(std::string_view utf16le);

}  // namespace ksweep::agent
