#include "server/store/sqlite_schema.h"

#include <string>
#include <vector>

namespace ksweep::server::sqlite {
namespace {

// Append only: a released migration never changes. Current-state columns of `hosts` are denormalised so fleet
// queries over a million hosts read one index; `counters` and `trend_delta` are aggregates the writer keeps current
// so GetSummary and GetTrend never scan hosts.
const std::vector<const char*>& Migrations() {
  static const std::vector<const char*> kMigrations = {
      // 1: first schema.
      R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE hosts(                   -- current state, small rows: what lists and filters read
  id INTEGER PRIMARY KEY,
  host_id TEXT NOT NULL UNIQUE,
  hostname TEXT NOT NULL,
  os_id TEXT NOT NULL,
  os_version TEXT NOT NULL,
  os_name TEXT NOT NULL,
  os_pretty TEXT NOT NULL,
  verdict INTEGER NOT NULL,           -- current, STALE included
  reported_verdict INTEGER NOT NULL,  -- as last reported
  verdict_order INTEGER NOT NULL,     -- 10 - VerdictRank(verdict): ascending is strongest first; filters use it
  products TEXT NOT NULL,             -- product ids, strongest first, space separated
  labels TEXT NOT NULL,               -- newline separated, sorted
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  last_report INTEGER NOT NULL,
  last_sequence INTEGER NOT NULL,
  agent_version TEXT NOT NULL
);
-- The ordering indexes carry the filter columns that do not change on every report, so a page scan rejects
-- non-matching hosts from the index alone.
CREATE INDEX hosts_by_hostname ON hosts(hostname, host_id, verdict_order, os_id, os_version, labels);
CREATE INDEX hosts_by_last_seen ON hosts(last_seen, host_id);
CREATE INDEX hosts_by_verdict ON hosts(verdict_order, hostname, host_id, os_id, os_version, labels);
CREATE INDEX hosts_by_os ON hosts(os_id, os_version, verdict_order);
CREATE TABLE host_docs(               -- what only GetHost reads
  host INTEGER PRIMARY KEY,
  facts BLOB NOT NULL,                -- HostFacts
  report BLOB NOT NULL                -- the last HostReport
);
CREATE TABLE host_products(
  host INTEGER NOT NULL, product_id TEXT NOT NULL, state INTEGER NOT NULL, version TEXT NOT NULL,
  name TEXT NOT NULL, PRIMARY KEY(host, product_id)) WITHOUT ROWID;
CREATE INDEX host_products_by_product ON host_products(product_id, version, host);
CREATE TABLE host_labels(host INTEGER NOT NULL, label TEXT NOT NULL, PRIMARY KEY(host, label)) WITHOUT ROWID;
CREATE INDEX host_labels_by_label ON host_labels(label, host);
CREATE TABLE product_seen(host INTEGER NOT NULL, product_id TEXT NOT NULL, PRIMARY KEY(host, product_id))
  WITHOUT ROWID;
CREATE TABLE events(
  id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: clients resume from an id
  type INTEGER NOT NULL, host_id TEXT NOT NULL, hostname TEXT NOT NULL, product_id TEXT NOT NULL,
  old_state INTEGER NOT NULL, new_state INTEGER NOT NULL, old_version TEXT NOT NULL, new_version TEXT NOT NULL,
  time INTEGER NOT NULL, agent_time INTEGER NOT NULL, sequence INTEGER NOT NULL);
CREATE INDEX events_by_host ON events(host_id, id);
CREATE INDEX events_by_time ON events(time);
CREATE TABLE verdict_log(
  host_id TEXT NOT NULL, time INTEGER NOT NULL, old_verdict INTEGER NOT NULL, new_verdict INTEGER NOT NULL);
CREATE INDEX verdict_log_by_host ON verdict_log(host_id, time);
CREATE TABLE trend_delta(day INTEGER NOT NULL, verdict INTEGER NOT NULL, delta INTEGER NOT NULL,
  PRIMARY KEY(day, verdict)) WITHOUT ROWID;
CREATE TABLE counters(kind INTEGER NOT NULL, key TEXT NOT NULL, label TEXT NOT NULL, hosts INTEGER NOT NULL,
  PRIMARY KEY(kind, key)) WITHOUT ROWID;
)sql",
      // 2: the platform of each host (schema 1 knew only Linux agents), the last report's incomplete flag, and
      // the per-platform counter (kind 5) the summary and the query planner read. The indexes that carry filter
      // columns are made again with the platform among them, and the platform's own index carries the OS: a
      // platform with an OS or a verdict is then counted from one index, without reading hosts.
      R"sql(
ALTER TABLE hosts ADD COLUMN platform INTEGER NOT NULL DEFAULT 1;    -- v1::Platform, never UNSPECIFIED
ALTER TABLE hosts ADD COLUMN incomplete INTEGER NOT NULL DEFAULT 0;  -- the last report's HostReport.incomplete
DROP INDEX hosts_by_hostname;
DROP INDEX hosts_by_verdict;
DROP INDEX hosts_by_os;
CREATE INDEX hosts_by_hostname ON hosts(hostname, host_id, verdict_order, os_id, os_version, labels, platform);
CREATE INDEX hosts_by_verdict ON hosts(verdict_order, hostname, host_id, os_id, os_version, labels, platform);
CREATE INDEX hosts_by_os ON hosts(os_id, os_version, verdict_order, platform);
CREATE INDEX hosts_by_platform ON hosts(platform, verdict_order, os_id, os_version);
INSERT INTO counters(kind, key, label, hosts) SELECT 5, 'linux', 'Linux', count(*) FROM hosts HAVING count(*) > 0;
)sql",
  };
  return kMigrations;
}

Result<int> UserVersion(Db& db) {
  auto stmt = Stmt::Prepare(db, "PRAGMA user_version");
  if (!stmt.ok()) return stmt.status();
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  return static_cast<int>(stmt->Int(0));
}

}  // namespace

Status Migrate(Db& db) { return MigrateTo(db, static_cast<int>(Migrations().size())); }

Status MigrateTo(Db& db, int target) {
  auto version = UserVersion(db);
  if (!version.ok()) return version.status();
  const int known = static_cast<int>(Migrations().size());
  if (*version > known) {
    return Status::InvalidArgument("database '" + db.path() + "': schema version " + std::to_string(*version) +
                                   " is newer than this collector supports (" + std::to_string(known) + ")");
  }
  if (target < 0 || target > known) {
    return Status::InvalidArgument("schema version " + std::to_string(target) + ": this collector knows 0 to " +
                                   std::to_string(known));
  }
  for (int v = *version; v < target; ++v) {
    if (auto s = db.Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
    Status s = db.Exec(Migrations()[static_cast<size_t>(v)]);
    if (s.ok()) s = db.Exec("PRAGMA user_version = " + std::to_string(v + 1));
    if (s.ok()) s = db.Exec("COMMIT");
    if (!s.ok()) {
      (void)db.Exec("ROLLBACK");
      return Status::IoError("migration to schema version " + std::to_string(v + 1) + ": " + s.message());
    }
  }
  return Status::Ok();
}

}  // namespace ksweep::server::sqlite
