// Rows and columns, and their rendering as an aligned text table for people.
#pragma once

#include <string>
#include <vector>

namespace ksweep::cli {

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // each as long as the header
};

// Columns padded to their widest cell (counted in characters, not bytes), two spaces apart, no trailing spaces.
// Control characters in cells are shown escaped ("\n", "\x1b") so text from agents cannot move the cursor or
// recolour the terminal.
std::string RenderTable(const Table& table);

// Cell text safe for a terminal: control characters and invalid UTF-8 escaped, everything else as is.
std::string TerminalSafe(const std::string& text);

}  // namespace ksweep::cli
