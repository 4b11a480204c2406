// CSV for scripts: RFC 4180 quoting, one header line, "\n" line ends (what Unix tools expect; RFC 4180 parsers
// such as Python's csv module read them too).
#pragma once

#include <string>

#include "cli/table.h"

namespace ksweep::cli {

// A field quoted only when it must be: it holds a comma, a double quote, CR or LF (quotes doubled inside).
std::string CsvField(const std::string& field);

// Header line then one line per row, cells exactly as given (no terminal escaping: CSV carries data).
std::string RenderCsv(const Table& table);

}  // namespace ksweep::cli
