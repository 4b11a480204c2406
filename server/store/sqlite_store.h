// The SQLite backend: one database file in WAL mode, one writer thread batching writes into transactions (callbacks
// run after COMMIT), readers on their own connections in parallel. Schema in sqlite_schema.cc.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/logging.h"
#include "server/store/page_token.h"
#include "server/store/sqlite_util.h"
#include "server/store/store.h"

namespace ksweep::server {

struct SqliteStoreOptions {
  std::string path;                                // the database file, e.g. DATA_DIR/ksweep.db
  Micros stale_after = 24 * 3600 * kMicrosPerSecond;
  Micros expire_after = 0;                         // 0: hosts never expire
  std::string expire_label = "ephemeral";          // only hosts with this label expire; empty: every host
  size_t max_batch = 1024;                         // writes per transaction at most
  const Clock* clock = nullptr;                    // required; outlives the store
  EventSink* events = nullptr;                     // optional; outlives the store
  LoggerPtr logger;
};

class SqliteStore final : public Store {
 public:
  static Result<std::unique_ptr<SqliteStore>> Open(SqliteStoreOptions options);
  ~SqliteStore() override;

  void SubmitReport(ReportIn report, IngestCallback done) override;
  void SubmitContact(std::string host_id, Micros time, ContactCallback done) override;
  Result<IngestOutcome> IngestReport(ReportIn report) override;
  Result<std::vector<IngestOutcome>> IngestBatch(std::vector<ReportIn> reports) override;
  Result<ContactOutcome> Contact(std::string host_id, Micros time) override;
  Result<std::vector<v1::Event>> SweepStale(Micros now) override;

  Result<uint64_t> LastSequence(const std::string& host_id) override;
  Result<v1::Summary> GetSummary() override;
  Result<v1::ListHostsResponse> ListHosts(const HostQuery& query, v1::HostOrder order, int page_size,
                                          const std::string& page_token) override;
  Result<std::vector<std::string>> SelectHostIds(const HostQuery& query, size_t limit) override;
  Result<v1::Host> GetHost(const std::string& host, int history_limit) override;
  Result<v1::ListEventsResponse> ListEvents(const EventQuery& query, int page_size,
                                            const std::string& page_token) override;
  Result<v1::Trend> GetTrend(int days) override;
  Status Close() override;

  class Txn;      // the writer's connection and statements, inside a transaction
  struct Effects;  // what one write changes besides rows: events, counter and trend deltas
  struct PreparedReport;  // a report validated and serialized off the writer thread

 private:
  struct Op {
    // May run twice (RunBatch retries a batch with one savepoint per write when a write is refused): it must leave
    // nothing behind but the database rows and what it writes into Effects, each run overwriting the last.
    std::function<Status(Txn&, Effects&)> apply;
    std::function<void(const Status&)> complete;
  };

  SqliteStore(SqliteStoreOptions options, std::unique_ptr<Txn> writer, std::string token_key);
  void Enqueue(Op op);
  Status RunSync(std::function<Status(Txn&, Effects&)> apply);
  // A committed (or failed) transaction's callbacks, run on the completion thread so that the writer starts the next
  // transaction while acks go out.
  struct Done {
    std::vector<Op> ops;
    std::vector<Status> results;  // one per op; ignored when `failed` is set
    Status failed;
    std::vector<v1::Event> events;
  };

  void WriterLoop();
  Done RunBatch(std::vector<Op> batch, bool savepoints);
  void CompletionLoop();

  class ReaderLease;
  Result<ReaderLease> Reader();

  const SqliteStoreOptions options_;
  const PageTokenSealer tokens_;

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Op> queue_;   // guarded by queue_mu_
  bool closing_ = false;   // guarded by queue_mu_
  std::unique_ptr<Txn> writer_;  // writer thread only
  int64_t analyzed_hosts_ = -1;  // writer thread only: fleet size at the last ANALYZE
  std::thread writer_thread_;

  std::mutex done_mu_;
  std::condition_variable done_cv_;
  std::deque<Done> done_;        // guarded by done_mu_
  bool writer_exited_ = false;   // guarded by done_mu_
  std::thread completion_thread_;

  std::mutex readers_mu_;
  std::vector<std::unique_ptr<sqlite::Db>> idle_readers_;  // guarded by readers_mu_
};

}  // namespace ksweep::server
