#include "cli/table.h"

#include <algorithm>
#include <cstdint>

namespace ksweep::cli {
namespace {

constexpr char kHex[] = "0123456789abcdef";

std::string HexEscape(unsigned char c) {
  std::string s = "\\x";
  s.push_back(kHex[c >> 4]);
  s.push_back(kHex[c & 0xf]);
  return s;
}

// Length of the valid UTF-8 sequence starting at s[i], or 0.
size_t Utf8SequenceLength(const std::string& s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t len = 0;
  uint32_t cp = 0;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3f);
  }
  // Overlong forms, surrogates, C1 controls (which some terminals obey) and values past Unicode are refused.
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f)) {
    return 0;
  }
  return len;
}

size_t DisplayWidth(const std::string& s) {
  size_t width = 0;
  for (unsigned char c : s) {
    if ((c & 0xc0) != 0x80) ++width;
  }
  return width;
}

}  // namespace

std::string TerminalSafe(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
      ++i;
    } else if (c == '\n') {
      out += "\\n";
      ++i;
    } else if (c == '\t') {
      out += "\\t";
      ++i;
    } else if (c == '\r') {
      out += "\\r";
      ++i;
    } else if (c < 0x80) {
      out += HexEscape(c);
      ++i;
    } else if (size_t len = Utf8SequenceLength(text, i); len > 0) {
      out.append(text, i, len);
      i += len;
    } else {
      out += HexEscape(c);
      ++i;
    }
  }
  return out;
}

std::string RenderTable(const Table& table) {
  const size_t columns = table.header.size();
  std::vector<std::vector<std::string>> cells;
  cells.reserve(table.rows.size() + 1);
  cells.push_back({});
  for (const auto& h : table.header) cells.back().push_back(TerminalSafe(h));
  for (const auto& row : table.rows) {
    cells.push_back({});
    for (size_t i = 0; i < columns; ++i) cells.back().push_back(i < row.size() ? TerminalSafe(row[i]) : "");
  }
  std::vector<size_t> widths(columns, 0);
  for (size_t i = 0; i < columns; ++i) {
    const size_t limit = i < table.max_widths.size() && table.max_widths[i] > 0 ? table.max_widths[i] : SIZE_MAX;
    for (const auto& row : cells) {
      // A cell over the limit overflows its own row; the others line up among themselves.
      if (const size_t w = DisplayWidth(row[i]); w <= limit) widths[i] = std::max(widths[i], w);
    }
  }
  std::string out;
  for (const auto& row : cells) {
    std::string line;
    for (size_t i = 0; i < columns; ++i) {
      line += row[i];
      if (i + 1 < columns) line.append(widths[i] - std::min(widths[i], DisplayWidth(row[i])) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  }
  return out;
}

}  // namespace ksweep::cli
