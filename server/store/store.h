// The collector's storage seam. SQLite today (sqlite_store.h), PostgreSQL later: the services see only this, and
// tests/integration/store_test.cc is the conformance suite every backend must pass.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "ksweep/v1/agent.pb.h"
#include "ksweep/v1/fleet.pb.h"
#include "ksweep/v1/report.pb.h"
#include "server/clock.h"
#include "server/store/host_query.h"

namespace ksweep::server {

// One report as received: who sent it (the stream's Hello), and when by both clocks.
struct ReportIn {
  v1::HostFacts host;  // facts from the stream's Hello; the report's own facts win when it carries them
  uint64_t sequence = 0;
  v1::HostReport report;
  Micros agent_time = 0;
  Micros receive_time = 0;
};

enum class IngestKind {
  kStored,         // new sequence: stored, events derived
  kDuplicate,      // this host already has this sequence: acknowledged, nothing changed
  kStaleSequence,  // lower than the last stored sequence: refused, nothing changed
};

const char* IngestKindName(IngestKind kind);

struct IngestOutcome {
  IngestKind kind = IngestKind::kStored;
  uint64_t last_sequence = 0;     // the host's highest stored sequence after this report
  std::vector<v1::Event> events;  // derived and stored by this report (with ids)
};

// A hello or heartbeat: the host was heard from.
struct ContactOutcome {
  uint64_t last_sequence = 0;     // 0: nothing stored for this host
  std::vector<v1::Event> events;  // CAME_BACK when the host was stale
};

using IngestCallback = std::function<void(Result<IngestOutcome>)>;
using ContactCallback = std::function<void(Result<ContactOutcome>)>;

// Receives events after the transaction that stored them committed, on the writer thread: must not block.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void Publish(const std::vector<v1::Event>& events) = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // --- Writes. All go through one writer in order; callbacks run on the writer thread after COMMIT (or with the
  // error that prevented it) and must not block. Submit* never blocks beyond a short queue lock.
  virtual void SubmitReport(ReportIn report, IngestCallback done) = 0;
  virtual void SubmitContact(std::string host_id, Micros time, ContactCallback done) = 0;

  // Blocking forms of the above, for tools and tests. IngestBatch stores all reports in one transaction.
  virtual Result<IngestOutcome> IngestReport(ReportIn report) = 0;
  virtual Result<std::vector<IngestOutcome>> IngestBatch(std::vector<ReportIn> reports) = 0;
  virtual Result<ContactOutcome> Contact(std::string host_id, Micros time) = 0;

  // Marks hosts not heard from since `now - stale_after` STALE (WENT_STALE events) and expires ephemeral hosts
  // past their expiry. Returns the events it stored.
  virtual Result<std::vector<v1::Event>> SweepStale(Micros now) = 0;

  // --- Reads, on their own connections, in parallel with the writer.
  virtual Result<uint64_t> LastSequence(const std::string& host_id) = 0;
  virtual Result<v1::Summary> GetSummary() = 0;
  // page_size 0: default 100; more than 1000: INVALID_ARGUMENT. A token from another query: INVALID_ARGUMENT.
  virtual Result<v1::ListHostsResponse> ListHosts(const HostQuery& query, v1::HostOrder order, int page_size,
                                                  const std::string& page_token) = 0;
  // Host ids selected by a query, at most `limit` (RequestScan).
  virtual Result<std::vector<std::string>> SelectHostIds(const HostQuery& query, size_t limit) = 0;
  // By host id, else by hostname (the most recently seen host of that name). NOT_FOUND when neither matches.
  virtual Result<v1::Host> GetHost(const std::string& host, int history_limit) = 0;
  virtual Result<v1::ListEventsResponse> ListEvents(const EventQuery& query, int page_size,
                                                    const std::string& page_token) = 0;
  // End-of-day fleet state for the last `days` days including today (UTC), oldest first.
  virtual Result<v1::Trend> GetTrend(int days) = 0;

  // Drains the writer (every queued write is committed or failed), then closes. Later calls fail UNAVAILABLE.
  virtual Status Close() = 0;
};

using StorePtr = std::unique_ptr<Store>;

}  // namespace ksweep::server
