// What the agent must remember across restarts: the last sequence number it issued (so numbers only ever grow), the
// last report it staged and how far the collector has acknowledged. Files in the state folder:
//   state           "ksweep-agent-state 1" / "sequence N" / "acked M", one per line
//   last_report.pb  the last staged v1::Report, binary
//   lock            flock()ed by the running agent (holds its pid): one agent per state folder
// Each file is replaced whole (atomic_file.h). A file that does not parse is set aside as NAME.corrupt with a log
// line: the sequence is then recovered from the other file, or from the collector's Welcome.
// The spool (reliability issue) replaces last_report.pb with checksummed records kept until acked; Stage,
// ReportsAfter and Ack keep their meaning.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/logging.h"
#include "common/status.h"
#include "ksweep/v1/agent.pb.h"

namespace ksweep::agent {

// A larger file is corrupt, not something to load.
inline constexpr size_t kMaxStateFileBytes = 4096;
inline constexpr size_t kMaxReportFileBytes = size_t{32} << 20;

class StateStore {
 public:
  // Creates the folder (0700) when missing and locks it. Fails when it cannot be created, locked or written.
  static Result<std::unique_ptr<StateStore>> Open(const std::string& dir, const LoggerPtr& log);
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  const std::string& dir() const { return dir_; }
  uint64_t last_sequence() const { return sequence_; }
  uint64_t acked_sequence() const { return acked_; }
  // The last staged report, acknowledged or not.
  const std::optional<v1::Report>& latest() const { return latest_; }

  // Gives `report` the next sequence number and makes both durable before returning what to send. On failure the
  // number is still never reused.
  Result<v1::Report> Stage(const v1::HostReport& report, const google::protobuf::Timestamp& agent_time);

  // What the store still holds with a sequence above `sequence`, oldest first: what to send a collector whose
  // Welcome says it stored up to `sequence`.
  std::vector<v1::Report> ReportsAfter(uint64_t sequence) const;

  // The collector stored everything up to `sequence`. Refuses a sequence this agent never issued.
  Status Ack(uint64_t sequence);

  // The collector has stored a sequence this agent does not remember issuing (state folder wiped or restored):
  // never issue one at or below it again.
  Status AdvanceSequence(uint64_t sequence);

 private:
  StateStore(std::string dir, int lock_fd, LoggerPtr log);
  void Load();
  Status SaveState() const;
  void SetAside(const std::string& path, const std::string& why) const;

  const std::string dir_;
  const int lock_fd_;
  const LoggerPtr log_;
  uint64_t sequence_ = 0;
  uint64_t acked_ = 0;
  std::optional<v1::Report> latest_;
};

}  // namespace ksweep::agent
