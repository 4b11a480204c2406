#include "agent/windows/image_path.h"

#include <strings.h>

#include <cctype>

namespace ksweep::agent {
namespace {

struct Expansion {
  std::string_view variable;  // between the percent signs
  std::string_view folder;    // on the system drive, backslash-separated
};

// The variables a service's ImagePath uses, with their values on a default installation.
constexpr Expansion kExpansions[] = {
    {"SystemRoot", "\\Windows"},
    {"windir", "\\Windows"},
    {"SystemDrive", ""},
    {"ProgramFiles", "\\Program Files"},
    {"ProgramFiles(x86)", "\\Program Files (x86)"},
    {"ProgramW6432", "\\Program Files"},
    {"CommonProgramFiles", "\\Program Files\\Common Files"},
    {"CommonProgramFiles(x86)", "\\Program Files (x86)\\Common Files"},
    {"ProgramData", "\\ProgramData"},
    {"ALLUSERSPROFILE", "\\ProgramData"},
};

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && ::strncasecmp(s.data(), prefix.data(), prefix.size()) == 0;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// The image file of an unquoted command line: up to the first executable extension that ends a word.
std::string_view UnquotedImage(std::string_view line) {
  for (size_t i = 0; i + 4 <= line.size(); ++i) {
    const std::string_view ext = line.substr(i, 4);
    const bool executable =
        StartsWithNoCase(ext, ".exe") || StartsWithNoCase(ext, ".sys") || StartsWithNoCase(ext, ".dll");
    if (executable && (i + 4 == line.size() || line[i + 4] == ' ')) return line.substr(0, i + 4);
  }
  return line;
}

std::optional<std::string> Expand(std::string_view path) {
  std::string out;
  while (!path.empty()) {
    const size_t open = path.find('%');
    out.append(path.substr(0, open));
    if (open == std::string_view::npos) break;
    const size_t close = path.find('%', open + 1);
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view name = path.substr(open + 1, close - open - 1);
    const Expansion* found = nullptr;
    for (const auto& e : kExpansions) {
      if (e.variable.size() == name.size() && StartsWithNoCase(name, e.variable)) found = &e;
    }
    if (found == nullptr) return std::nullopt;
    out.append(found->folder);
    path.remove_prefix(close + 1);
  }
  return out;
}

}  // namespace

std::optional<std::string> ImageFileInRoot(std::string_view image_path) {
  std::string_view line = Trim(image_path);
  if (line.empty()) return std::nullopt;
  if (line.front() == '"') {
    const size_t close = line.find('"', 1);
    line = line.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1);
  } else {
    line = UnquotedImage(line);
  }
  auto expanded = Expand(line);
  if (!expanded) return std::nullopt;
  std::string_view path = *expanded;

  if (StartsWithNoCase(path, "\\??\\") || StartsWithNoCase(path, "\\\\?\\")) path.remove_prefix(4);
  std::string inside;
  if (path.size() >= 2 && path[1] == ':') {
    // The scanned root is the system drive; other drives are not in it.
    if (std::toupper(static_cast<unsigned char>(path[0])) != 'C') return std::nullopt;
    path.remove_prefix(2);
  } else if (StartsWithNoCase(path, "\\SystemRoot\\")) {
    inside = "\\Windows";
    path.remove_prefix(std::string_view("\\SystemRoot").size());
  } else if (StartsWithNoCase(path, "\\\\") || StartsWithNoCase(path, "\\Device\\")) {
    return std::nullopt;
  } else if (!path.empty() && path.front() != '\\') {
    // The service manager reads a relative driver path from the Windows folder (`System32\drivers\x.sys`).
    inside = "\\Windows\\";
  }
  inside.append(path);
  if (inside.empty() || inside.front() != '\\') return std::nullopt;
  for (char& c : inside) {
    if (c == '\\') c = '/';
  }
  return inside;
}

}  // namespace ksweep::agent
