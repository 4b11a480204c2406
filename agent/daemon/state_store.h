// What the agent must remember across restarts: the last sequence number it issued (so numbers only ever grow), the
// reports the collector has not acknowledged yet (the spool) and how far the collector has acknowledged. Files in
// the state folder:
//   state                 "ksweep-agent-state 1" / "sequence N" / "acked M", one per line
//   last_report.pb        the latest staged v1::Report, whole, as a spool record (acknowledged or not: it is what the
//                         next scan is compared with)
//   spool/N.change        a change record: an earlier staged report the collector has not acknowledged, reduced to
//                         what history needs (product states and versions, the agent time it was first seen)
//   lock                  flock()ed by the running agent (holds its pid): one agent per state folder
// Every file is replaced whole (atomic_file.h) and every record carries a SHA-256 of its content. A file that does not
// parse or check is set aside as NAME.corrupt with a log line, never a crash: the sequence is then recovered from the
// other files, or from the collector's Welcome.
//
// Why change records: reports are whole snapshots, so the latest one makes every older unacknowledged snapshot moot
// for the current state, but not for history. A product installed and removed while the collector was away must
// still reach it as two events, each with the agent time it was first seen. A change record is kept only when its
// product states differ from the record before it (evidence churn, such as a new pid, makes none), and at most
// kMaxSpoolChanges records / kMaxSpoolChangeBytes are kept: past that the oldest is dropped with a warning (that
// transition is then lost; the current state never is).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/logging.h"
#include "common/status.h"
#include "ksweep/v1/agent.pb.h"

namespace ksweep::agent {

// A larger file is corrupt, not something to load.
inline constexpr size_t kMaxStateFileBytes = 4096;
inline constexpr size_t kMaxReportFileBytes = size_t{32} << 20;
// The spool's bound beside the latest report: unacknowledged change records, by count and by total bytes.
inline constexpr size_t kMaxSpoolChanges = 128;
inline constexpr size_t kMaxSpoolChangeBytes = size_t{2} << 20;

// One spool record on disk: a header line "ksweep-spool 1 KIND SEQUENCE LENGTH SHA256HEX\n", then LENGTH bytes of a
// serialised v1::Report whose sequence is SEQUENCE. The digest covers the header fields and the payload.
enum class SpoolKind { kSnapshot, kChange };
std::string EncodeSpoolRecord(SpoolKind kind, const v1::Report& report);
// Checks everything (header, length, digest, payload, sequence); the error names `path` and what is wrong.
Result<v1::Report> DecodeSpoolRecord(std::string_view bytes, SpoolKind kind, const std::string& path);

// The report reduced to what history is derived from: host facts, verdict, and per product its state, version and
// whether it is broken (no evidence, probes or warnings).
v1::Report ChangeRecordOf(const v1::Report& report);
// True when both say the same about products and verdict: a later record adds no history event.
bool SameProductStates(const v1::HostReport& a, const v1::HostReport& b);

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
  // Change records held (the acknowledged one history is compared against included), oldest first.
  const std::vector<v1::Report>& changes() const { return changes_; }

  // Gives `report` the next sequence number and makes it durable (with the change record the previous report
  // leaves, if any) before returning what to send. On failure the number is still never reused.
  Result<v1::Report> Stage(const v1::HostReport& report, const google::protobuf::Timestamp& agent_time);

  // What the store still holds with a sequence above `sequence`, oldest first: what to send a collector whose
  // Welcome says it stored up to `sequence`. Change records come first, the latest report last.
  std::vector<v1::Report> ReportsAfter(uint64_t sequence) const;

  // The collector stored everything up to `sequence`: change records below it are deleted. Refuses a sequence this
  // agent never issued.
  Status Ack(uint64_t sequence);

  // The collector has stored a sequence this agent does not remember issuing (state folder wiped or restored):
  // never issue one at or below it again.
  Status AdvanceSequence(uint64_t sequence);

 private:
  StateStore(std::string dir, int lock_fd, LoggerPtr log);
  void Load();
  void LoadChanges();
  Status SaveState() const;
  Status WriteChange(const v1::Report& record);
  // Deletes change records the collector no longer needs: all below the newest acknowledged record.
  void DropAcknowledged();
  // Keeps the unacknowledged change records within kMaxSpoolChanges / kMaxSpoolChangeBytes.
  void EnforceBound();
  void RemoveChangeFile(uint64_t sequence) const;
  std::string ChangePath(uint64_t sequence) const;
  void SetAside(const std::string& path, const std::string& why) const;

  const std::string dir_;
  const int lock_fd_;
  const LoggerPtr log_;
  uint64_t sequence_ = 0;
  uint64_t acked_ = 0;
  std::optional<v1::Report> latest_;
  std::vector<v1::Report> changes_;  // ascending sequence, all below latest_
};

}  // namespace ksweep::agent
