// Rows and columns, and their rendering as an aligned text table for people.
#pragma once

#include <string>
#include <vector>

namespace ksweep::cli {

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // each as long as the header
  // Per column, the most it is padded to (0 or absent: to its widest cell). A longer cell pushes the rest of its own
  // row right instead of widening the column for every row: one 110-character registry key should not.
  std::vector<size_t> max_widths = {};
};

// Columns padded to their widest cell (counted in characters, not bytes; at most Table::max_widths), two spaces
// apart, no trailing spaces.
// Control characters in cells are shown escaped ("\n", "\x1b") so text from agents cannot move the cursor or
// recolour the terminal.
std::string RenderTable(const Table& table);

// Cell text safe for a terminal: control characters and invalid UTF-8 escaped, everything else as is.
std::string TerminalSafe(const std::string& text);

}  // namespace ksweep::cli
