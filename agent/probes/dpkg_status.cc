#include "agent/probes/dpkg_status.h"

#include <array>

namespace ksweep::agent {
namespace {

constexpr size_t kMaxWarnings = 20;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool FieldIs(std::string_view name, std::string_view want) {
  if (name.size() != want.size()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char a = name[i];
    char b = want[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
    if (a != b) return false;
  }
  return true;
}

}  // namespace

bool PackageStateFromDpkgStatus(std::string_view status, PackageState* state) {
  std::array<std::string_view, 3> words;
  size_t n = 0;
  size_t pos = 0;
  while (pos < status.size()) {
    while (pos < status.size() && status[pos] == ' ') ++pos;
    if (pos >= status.size()) break;
    const size_t end = status.find(' ', pos);
    const std::string_view word = status.substr(pos, end == std::string_view::npos ? status.size() - pos : end - pos);
    if (n == words.size()) return false;
    words[n++] = word;
    pos = end == std::string_view::npos ? status.size() : end;
  }
  if (n != 3) return false;
  const std::string_view s = words[2];
  if (s == "installed") {
    *state = PackageState::kInstalled;
  } else if (s == "unpacked" || s == "half-installed" || s == "half-configured" || s == "triggers-awaited" ||
             s == "triggers-pending") {
    *state = PackageState::kBroken;
  } else if (s == "config-files") {
    *state = PackageState::kConfigFiles;
  } else if (s == "not-installed") {
    *state = PackageState::kNotInstalled;
  } else {
    return false;
  }
  return true;
}

void DpkgStatusParser::Warn(std::string message) {
  if (warnings_.size() < kMaxWarnings) {
    warnings_.push_back(std::move(message));
  } else {
    ++dropped_warnings_;
  }
}

void DpkgStatusParser::Feed(std::string_view chunk) {
  while (!chunk.empty()) {
    const size_t nl = chunk.find('\n');
    const std::string_view piece = chunk.substr(0, nl);
    if (!skipping_long_line_) {
      if (partial_.size() + piece.size() > kMaxLine) {
        Warn("line " + std::to_string(line_no_ + 1) + ": longer than " + std::to_string(kMaxLine) +
             " bytes, skipped");
        skipping_long_line_ = true;
        partial_.clear();
      } else {
        partial_.append(piece);
      }
    }
    if (nl == std::string_view::npos) return;
    ++line_no_;
    if (!skipping_long_line_) Line(partial_);
    partial_.clear();
    skipping_long_line_ = false;
    chunk.remove_prefix(nl + 1);
  }
}

void DpkgStatusParser::Line(std::string_view line) {
  if (Trim(line).empty()) {
    EndStanza();
    return;
  }
  if (line.front() == ' ' || line.front() == '\t') {
    // Continuation of a multi-line field (Description, Conffiles): none we keep spans lines.
    if (!in_stanza_) Warn("line " + std::to_string(line_no_) + ": continuation line outside a stanza");
    return;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    Warn("line " + std::to_string(line_no_) + ": not a 'Field: value' line");
    return;
  }
  if (!in_stanza_) {
    in_stanza_ = true;
    current_ = DpkgRecord{};
    current_.line = line_no_;
  }
  const std::string_view name = line.substr(0, colon);
  const std::string_view value = Trim(line.substr(colon + 1));
  if (FieldIs(name, "Package")) {
    current_.package = value;
  } else if (FieldIs(name, "Status")) {
    current_.status = value;
  } else if (FieldIs(name, "Version")) {
    current_.version = value;
  } else if (FieldIs(name, "Maintainer")) {
    current_.maintainer = value;
  } else if (FieldIs(name, "Architecture")) {
    current_.architecture = value;
  }
}

void DpkgStatusParser::EndStanza() {
  if (!in_stanza_) return;
  in_stanza_ = false;
  if (current_.package.empty()) {
    Warn("line " + std::to_string(current_.line) + ": stanza without a Package field, skipped");
    return;
  }
  if (!PackageStateFromDpkgStatus(current_.status, &current_.state)) {
    Warn("line " + std::to_string(current_.line) + ": package '" + current_.package + "' has an unknown Status '" +
         current_.status + "'");
    current_.state = PackageState::kNotInstalled;
  }
  records_.push_back(std::move(current_));
  current_ = DpkgRecord{};
}

std::vector<DpkgRecord> DpkgStatusParser::Finish() {
  if (skipping_long_line_) {
    partial_.clear();
  } else if (!partial_.empty()) {
    ++line_no_;
    Line(partial_);
    partial_.clear();
  }
  EndStanza();
  if (dropped_warnings_ > 0) {
    warnings_.push_back(std::to_string(dropped_warnings_) + " more problems not listed");
    dropped_warnings_ = 0;
  }
  return std::move(records_);
}

std::vector<DpkgRecord> ParseDpkgStatus(std::string_view text, std::vector<std::string>* warnings) {
  DpkgStatusParser parser;
  parser.Feed(text);
  auto records = parser.Finish();
  if (warnings != nullptr) *warnings = parser.warnings();
  return records;
}

}  // namespace ksweep::agent
