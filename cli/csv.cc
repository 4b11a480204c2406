#include "cli/csv.h"

namespace ksweep::cli {
namespace {

void AppendLine(const std::vector<std::string>& cells, size_t columns, std::string* out) {
  for (size_t i = 0; i < columns; ++i) {
    if (i > 0) out->push_back(',');
    if (i < cells.size()) *out += CsvField(cells[i]);
  }
  out->push_back('\n');
}

}  // namespace

std::string CsvField(const std::string& field) {
  if (field.find_first_of(",\"\r\n") == std::string::npos) return field;
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string RenderCsv(const Table& table) {
  std::string out;
  AppendLine(table.header, table.header.size(), &out);
  for (const auto& row : table.rows) AppendLine(row, table.header.size(), &out);
  return out;
}

}  // namespace ksweep::cli
