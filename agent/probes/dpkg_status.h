// Parser for dpkg's status database (deb-control stanzas), fed in chunks so a huge file never sits in memory whole.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "agent/observation.h"

namespace ksweep::agent {

struct DpkgRecord {
  std::string package;
  std::string architecture;
  std::string version;
  std::string maintainer;
  std::string status;  // the whole Status field, e.g. "hold ok installed"
  PackageState state = PackageState::kNotInstalled;
  int line = 0;  // where the stanza starts, for messages
};

// The third word of Status decides, whatever the first (want) word says: `hold ok installed` is installed.
// Returns false for a Status that is not three words or whose third word dpkg does not define.
bool PackageStateFromDpkgStatus(std::string_view status, PackageState* state);

class DpkgStatusParser {
 public:
  // A line longer than this is malformed (real fields are far shorter); it is skipped with a warning.
  static constexpr size_t kMaxLine = 64 * 1024;

  void Feed(std::string_view chunk);
  // Ends the input: returns every stanza with a Package field (records with a bad Status are kept with
  // state kNotInstalled and a warning).
  std::vector<DpkgRecord> Finish();
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  void Line(std::string_view line);
  void EndStanza();
  void Warn(std::string message);

  std::string partial_;
  bool skipping_long_line_ = false;
  int line_no_ = 0;
  DpkgRecord current_;
  bool in_stanza_ = false;
  std::vector<DpkgRecord> records_;
  std::vector<std::string> warnings_;
  size_t dropped_warnings_ = 0;
};

// Convenience for tests and small inputs.
std::vector<DpkgRecord> ParseDpkgStatus(std::string_view text, std::vector<std::string>* warnings);

}  // namespace ksweep::agent
