// A service's or driver's ImagePath as the service manager reads it, mapped to the file inside a Windows root.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ksweep::agent {

// `"C:\Program Files (x86)\Kaspersky Lab\...\avp.exe" -x`, `\SystemRoot\System32\DRIVERS\klif.sys`,
// `System32\drivers\klflt.sys` (relative to the Windows folder), `\??\C:\Windows\...`, `%SystemRoot%\...` ->
// `/Program Files (x86)/Kaspersky Lab/.../avp.exe`, `/Windows/System32/DRIVERS/klif.sys`, ... The image is the
// quoted part or, unquoted, everything up to the first `.exe`/`.sys`/`.dll` that ends a word (arguments dropped).
// Nothing for paths outside the system drive (`D:\`, `\\server\share`, `\Device\...`) or unknown %variables%.
std::optional<std::string> ImageFileInRoot(std::string_view image_path);

}  // namespace ksweep::agent
