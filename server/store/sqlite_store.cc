#include "server/store/sqlite_store.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <pthread.h>

#include <ctime>
#include <future>
#include <map>
#include <set>
#include <sstream>

#include "common/platform.h"
#include "server/store/history.h"
#include "server/store/sqlite_schema.h"

namespace ksweep::server {

using google::protobuf::util::TimeUtil;
using sqlite::Db;
using sqlite::Stmt;

#define KS_RETURN_IF_ERROR(expr)           \
  do {                                     \
    ::ksweep::Status _st = (expr);         \
    if (!_st.ok()) return _st;             \
  } while (false)

#define KS_ASSIGN_OR_RETURN(lhs, expr)     \
  auto lhs##_result = (expr);              \
  if (!lhs##_result.ok()) return lhs##_result.status(); \
  auto& lhs = *lhs##_result

namespace {

constexpr int kCounterVerdict = 0;
constexpr int kCounterProduct = 1;
constexpr int kCounterOs = 2;
constexpr int kCounterLabel = 3;       // hosts with a label: a selectivity estimate for the query planner
constexpr int kCounterProductAny = 4;  // hosts with a finding of a product in any state: the same
constexpr int kCounterPlatform = 5;    // key: PlatformName, label: PlatformLabel
constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

bool Present(v1::ProductState s) { return s >= v1::PRODUCT_STATE_INSTALLED; }

// Verdicts the trend counts: a stale host's state is unknown, so it is in no bucket.
bool Counted(v1::Verdict v) {
  return v == v1::VERDICT_CLEAN || v == v1::VERDICT_REMNANT || v == v1::VERDICT_INSTALLED ||
         v == v1::VERDICT_RUNNING;
}

int64_t DayOf(Micros t) {
  int64_t d = t / kMicrosPerDay;
  if (t % kMicrosPerDay < 0) --d;
  return d;
}

std::string DateOf(int64_t day) {
  const std::time_t secs = static_cast<std::time_t>(day * 86400);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

std::string OsKey(const std::string& id, const std::string& version) {
  if (id.empty()) return "unknown";
  return version.empty() ? id : id + " " + version;
}

// Agents from before platforms existed send PLATFORM_UNSPECIFIED: they were all Linux agents.
v1::Platform PlatformOf(const v1::HostFacts& facts) {
  return facts.platform() == v1::PLATFORM_UNSPECIFIED ? v1::PLATFORM_LINUX : facts.platform();
}

std::string OsLabel(const v1::OsInfo& os) { return os.pretty_name().empty() ? os.name() : os.pretty_name(); }

std::string JoinProducts(const std::vector<std::string>& ids) {
  std::string out;
  for (const auto& id : ids) {
    if (!out.empty()) out.push_back(' ');
    out += id;
  }
  return out;
}

std::vector<std::string> SplitProducts(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string id;
  while (in >> id) out.push_back(id);
  return out;
}

google::protobuf::Timestamp Ts(Micros t) { return TimeUtil::MicrosecondsToTimestamp(t); }

// A bound value of a statement built at run time.
struct Param {
  Param(int64_t v) : is_int(true), i(v) {}                 // NOLINT: implicit by design
  Param(std::string v) : is_int(false), s(std::move(v)) {}  // NOLINT: implicit by design
  bool is_int;
  int64_t i = 0;
  std::string s;
};

void BindAll(Stmt& stmt, const std::vector<Param>& params) {
  int n = 1;
  for (const auto& p : params) {
    if (p.is_int) {
      stmt.Bind(n++, p.i);
    } else {
      stmt.Bind(n++, std::string_view(p.s));
    }
  }
}

Result<int> CheckPageSize(int page_size) {
  if (page_size == 0) return kDefaultPageSize;
  if (page_size < 0 || page_size > kMaxPageSize) {
    return Status::InvalidArgument("page_size " + std::to_string(page_size) + ": must be 1 to " +
                                   std::to_string(kMaxPageSize) + " (0: default " +
                                   std::to_string(kDefaultPageSize) + ")");
  }
  return page_size;
}

Result<int64_t> ParseInt(const std::string& s) {
  try {
    size_t used = 0;
    const long long v = std::stoll(s, &used);
    if (used == s.size()) return static_cast<int64_t>(v);
  } catch (const std::exception&) {
  }
  return Status::InvalidArgument("page_token: damaged cursor");
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Writer side.

struct SqliteStore::Effects {
  std::vector<v1::Event> events;
  std::map<std::pair<int, std::string>, std::pair<int64_t, std::string>> counters;  // (kind, key) -> (delta, label)
  std::map<std::pair<int64_t, int>, int64_t> trend;                                 // (day, verdict) -> delta

  void Count(int kind, const std::string& key, const std::string& label, int64_t delta) {
    auto& slot = counters[{kind, key}];
    slot.first += delta;
    if (!label.empty()) slot.second = label;
  }
  void Merge(Effects&& other) {
    for (auto& e : other.events) events.push_back(std::move(e));
    for (auto& [k, v] : other.counters) {
      auto& slot = counters[k];
      slot.first += v.first;
      if (!v.second.empty()) slot.second = v.second;
    }
    for (auto& [k, v] : other.trend) trend[k] += v;
  }
};

struct HostRow {
  int64_t id = 0;
  uint64_t last_sequence = 0;
  v1::Verdict verdict = v1::VERDICT_UNSPECIFIED;
  v1::Verdict reported = v1::VERDICT_UNSPECIFIED;
  std::string hostname;
  std::string os_id;
  std::string os_version;
  Micros first_seen = 0;
  Micros last_seen = 0;
  std::string labels;
  std::string os_name;
  std::string os_pretty;
  std::string agent_version;
  v1::Platform platform = v1::PLATFORM_LINUX;
  bool incomplete = false;
};

class SqliteStore::Txn {
 public:
  explicit Txn(std::unique_ptr<Db> db) : db_(std::move(db)) {}

  Status Prepare() {
    struct {
      Stmt* stmt;
      const char* sql;
    } all[] = {
        {&find_host,
         "SELECT id, last_sequence, verdict, reported_verdict, hostname, os_id, os_version, first_seen, last_seen, "
         "labels, os_name, os_pretty, agent_version, platform, incomplete FROM hosts WHERE host_id = ?"},
        {&insert_host,
         "INSERT INTO hosts(hostname, os_id, os_version, os_name, os_pretty, verdict, reported_verdict, "
         "verdict_order, products, labels, last_seen, last_report, last_sequence, agent_version, platform, "
         "incomplete, host_id, first_seen) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"},
        {&update_host,
         "UPDATE hosts SET hostname=?, os_id=?, os_version=?, os_name=?, os_pretty=?, verdict=?, "
         "reported_verdict=?, verdict_order=?, products=?, labels=?, last_seen=?, last_report=?, last_sequence=?, "
         "agent_version=?, platform=?, incomplete=? WHERE id=?"},
        {&update_host_light,
         "UPDATE hosts SET last_seen=?, last_report=?, last_sequence=? WHERE id=?"},
        {&insert_doc, "INSERT INTO host_docs(facts, report, host) VALUES(?,?,?)"},
        {&update_doc, "UPDATE host_docs SET facts=?, report=? WHERE host=?"},
        {&find_seen, "SELECT 1 FROM product_seen WHERE host=? AND product_id=?"},
        {&savepoint, "SAVEPOINT op"},
        {&release, "RELEASE op"},
        {&rollback_to, "ROLLBACK TO op"},
        {&touch_host, "UPDATE hosts SET last_seen=?, verdict=?, verdict_order=? WHERE id=?"},
        {&load_products, "SELECT product_id, state, version, name FROM host_products WHERE host=?"},
        {&upsert_product,
         "INSERT OR REPLACE INTO host_products(host, product_id, state, version, name) VALUES(?,?,?,?,?)"},
        {&delete_product, "DELETE FROM host_products WHERE host=? AND product_id=?"},
        {&insert_seen, "INSERT OR IGNORE INTO product_seen(host, product_id) VALUES(?,?)"},
        {&delete_labels, "DELETE FROM host_labels WHERE host=?"},
        {&insert_label, "INSERT OR IGNORE INTO host_labels(host, label) VALUES(?,?)"},
        {&insert_event,
         "INSERT INTO events(type, host_id, hostname, product_id, old_state, new_state, old_version, new_version, "
         "time, agent_time, sequence) VALUES(?,?,?,?,?,?,?,?,?,?,?)"},
        {&insert_verdict_log, "INSERT INTO verdict_log(host_id, time, old_verdict, new_verdict) VALUES(?,?,?,?)"},
        {&upsert_counter,
         "INSERT INTO counters(kind, key, label, hosts) VALUES(?,?,?,?) ON CONFLICT(kind, key) DO UPDATE SET "
         "hosts = hosts + excluded.hosts, label = CASE WHEN excluded.label <> '' THEN excluded.label ELSE label END"},
        {&upsert_trend,
         "INSERT INTO trend_delta(day, verdict, delta) VALUES(?,?,?) ON CONFLICT(day, verdict) DO UPDATE SET "
         "delta = delta + excluded.delta"},
    };
    for (auto& s : all) {
      auto prepared = Stmt::Prepare(*db_, s.sql);
      if (!prepared.ok()) return prepared.status();
      *s.stmt = std::move(*prepared);
    }
    return Status::Ok();
  }

  Db& db() { return *db_; }
  // The data folder refused the last write (full, read-only, I/O error): logged once until a write succeeds again.
  bool refusing = false;

  Result<std::optional<HostRow>> FindHost(const std::string& host_id) {
    find_host.Bind(1, host_id);
    auto row = find_host.Step();
    if (!row.ok()) {
      find_host.Reset();
      return row.status();
    }
    std::optional<HostRow> out;
    if (*row) {
      HostRow h;
      h.id = find_host.Int(0);
      h.last_sequence = static_cast<uint64_t>(find_host.Int(1));
      h.verdict = static_cast<v1::Verdict>(find_host.Int(2));
      h.reported = static_cast<v1::Verdict>(find_host.Int(3));
      h.hostname = find_host.Text(4);
      h.os_id = find_host.Text(5);
      h.os_version = find_host.Text(6);
      h.first_seen = find_host.Int(7);
      h.last_seen = find_host.Int(8);
      h.labels = find_host.Text(9);
      h.os_name = find_host.Text(10);
      h.os_pretty = find_host.Text(11);
      h.agent_version = find_host.Text(12);
      h.platform = static_cast<v1::Platform>(find_host.Int(13));
      h.incomplete = find_host.Int(14) != 0;
      out = std::move(h);
    }
    find_host.Reset();
    return out;
  }

  Result<ProductMap> LoadProducts(int64_t host) {
    ProductMap out;
    load_products.Bind(1, host);
    for (;;) {
      auto row = load_products.Step();
      if (!row.ok()) {
        load_products.Reset();
        return row.status();
      }
      if (!*row) break;
      out[load_products.Text(0)] = ProductStatus{static_cast<v1::ProductState>(load_products.Int(1)),
                                                 load_products.Text(2), load_products.Text(3)};
    }
    load_products.Reset();
    return out;
  }

  // Stores `e` (host fields already set), gives it its id, and records it in `fx`.
  Status AddEvent(v1::Event e, Micros time, Micros agent_time, Effects& fx) {
    insert_event.Bind(1, static_cast<int64_t>(e.type()))
        .Bind(2, std::string_view(e.host_id()))
        .Bind(3, std::string_view(e.hostname()))
        .Bind(4, std::string_view(e.product_id()))
        .Bind(5, static_cast<int64_t>(e.old_state()))
        .Bind(6, static_cast<int64_t>(e.new_state()))
        .Bind(7, std::string_view(e.old_version()))
        .Bind(8, std::string_view(e.new_version()))
        .Bind(9, time)
        .Bind(10, agent_time)
        .Bind(11, static_cast<int64_t>(e.sequence()));
    KS_RETURN_IF_ERROR(insert_event.Run());
    e.set_id(sqlite3_last_insert_rowid(db_->get()));
    *e.mutable_time() = Ts(time);
    if (agent_time != 0) *e.mutable_agent_time() = Ts(agent_time);
    fx.events.push_back(std::move(e));
    return Status::Ok();
  }

  // Counters, trend and the per-host verdict log for one change of a host's current verdict.
  Status ChangeVerdict(const std::string& host_id, Micros time, v1::Verdict before, v1::Verdict after,
                       Effects& fx) {
    if (before == after) return Status::Ok();
    const int64_t day = DayOf(time);
    if (before != v1::VERDICT_UNSPECIFIED) fx.Count(kCounterVerdict, VerdictName(before), "", -1);
    if (after != v1::VERDICT_UNSPECIFIED) fx.Count(kCounterVerdict, VerdictName(after), "", +1);
    if (Counted(before)) fx.trend[{day, static_cast<int>(before)}] -= 1;
    if (Counted(after)) fx.trend[{day, static_cast<int>(after)}] += 1;
    insert_verdict_log.Bind(1, std::string_view(host_id))
        .Bind(2, time)
        .Bind(3, static_cast<int64_t>(before))
        .Bind(4, static_cast<int64_t>(after));
    return insert_verdict_log.Run();
  }

  Status Flush(const Effects& fx) {
    for (const auto& [k, v] : fx.counters) {
      if (v.first == 0 && v.second.empty()) continue;
      upsert_counter.Bind(1, static_cast<int64_t>(k.first))
          .Bind(2, std::string_view(k.second))
          .Bind(3, std::string_view(v.second))
          .Bind(4, v.first);
      KS_RETURN_IF_ERROR(upsert_counter.Run());
    }
    for (const auto& [k, v] : fx.trend) {
      if (v == 0) continue;
      upsert_trend.Bind(1, k.first).Bind(2, static_cast<int64_t>(k.second)).Bind(3, v);
      KS_RETURN_IF_ERROR(upsert_trend.Run());
    }
    return Status::Ok();
  }

  Result<bool> Seen(int64_t host, const std::string& product) {
    find_seen.Bind(1, host).Bind(2, std::string_view(product));
    auto row = find_seen.Step();
    find_seen.Reset();
    return row;
  }

  Stmt find_host, insert_host, update_host, update_host_light, insert_doc, update_doc, find_seen, touch_host, load_products,
      upsert_product, delete_product, insert_seen, delete_labels, insert_label, insert_event,
      insert_verdict_log, upsert_counter, upsert_trend, savepoint, release, rollback_to;

 private:
  std::unique_ptr<Db> db_;
};

namespace {

std::string JoinLabels(const std::set<std::string>& labels) {
  std::string out;
  for (const auto& l : labels) {
    if (!out.empty()) out.push_back('\n');
    out += l;
  }
  return out;
}

bool SameProducts(const ProductMap& a, const ProductMap& b) {
  if (a.size() != b.size()) return false;
  for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
    if (ia->first != ib->first || ia->second.state != ib->second.state || ia->second.version != ib->second.version ||
        ia->second.name != ib->second.name) {
      return false;
    }
  }
  return true;
}

}  // namespace

// What a report means for the store, worked out without the database: validated, derived and serialized on the
// caller's thread, so the single writer thread spends its time on SQL alone.
struct SqliteStore::PreparedReport {
  std::string host_id, hostname, os_id, os_version, os_name, os_pretty, os_label, agent_version;
  v1::Platform platform = v1::PLATFORM_LINUX;
  bool incomplete = false;
  std::set<std::string> labels;
  std::string labels_joined;
  v1::Verdict verdict = v1::VERDICT_UNSPECIFIED;
  ProductMap products;
  std::string products_joined;
  std::string facts_blob, report_blob;
  uint64_t sequence = 0;
  Micros agent_time = 0;
  Micros receive_time = 0;
};

namespace {

Result<SqliteStore::PreparedReport> PrepareReport(const ReportIn& in) {
  const v1::HostFacts& facts = in.report.has_host() ? in.report.host() : in.host;
  const std::string& host_id = facts.host_id();
  const std::string where = "report " + std::to_string(in.sequence) + " from host '" + host_id + "'";
  if (host_id.empty()) return Status::InvalidArgument("report " + std::to_string(in.sequence) + ": host_id is empty");
  if (in.report.has_host() && !in.host.host_id().empty() && in.host.host_id() != host_id) {
    return Status::InvalidArgument(where + ": host_id differs from the stream's Hello ('" + in.host.host_id() +
                                   "')");
  }
  if (in.sequence == 0) return Status::InvalidArgument(where + ": sequence must be 1 or more");
  KS_RETURN_IF_ERROR(CheckReport(in.report, where));
  for (const auto& label : facts.labels()) {
    if (label.empty() || label.find('\n') != std::string::npos) {
      return Status::InvalidArgument(where + ": a label is empty or holds a newline");
    }
  }
  SqliteStore::PreparedReport p;
  p.host_id = host_id;
  p.hostname = facts.hostname();
  p.os_id = facts.os().id();
  p.os_version = facts.os().version_id();
  p.os_name = facts.os().name();
  p.os_pretty = facts.os().pretty_name();
  p.os_label = OsLabel(facts.os());
  p.agent_version = in.report.agent_version();
  p.platform = PlatformOf(facts);
  p.incomplete = in.report.incomplete();
  p.labels.insert(facts.labels().begin(), facts.labels().end());
  p.labels_joined = JoinLabels(p.labels);
  p.verdict = in.report.verdict();
  p.products = ProductsOf(in.report);
  p.products_joined = JoinProducts(ProductsStrongestFirst(p.products));
  p.facts_blob = facts.SerializeAsString();
  p.report_blob = in.report.SerializeAsString();
  p.sequence = in.sequence;
  p.agent_time = in.agent_time;
  p.receive_time = in.receive_time;
  return p;
}

Status ApplyReport(SqliteStore::Txn& t, SqliteStore::Effects& fx, const SqliteStore::PreparedReport& in,
                   IngestOutcome* out) {
  const std::string& host_id = in.host_id;
  KS_ASSIGN_OR_RETURN(row, t.FindHost(host_id));
  if (row && in.sequence == row->last_sequence) {
    out->kind = IngestKind::kDuplicate;
    out->last_sequence = row->last_sequence;
    return Status::Ok();
  }
  if (row && in.sequence < row->last_sequence) {
    out->kind = IngestKind::kStaleSequence;
    out->last_sequence = row->last_sequence;
    return Status::Ok();
  }

  ProductMap before;
  if (row) {
    KS_ASSIGN_OR_RETURN(loaded, t.LoadProducts(row->id));
    before = std::move(loaded);
  }
  const ProductMap& after = in.products;
  // Whether a product was ever seen matters only for one that is absent now: DETECTED or REAPPEARED.
  std::set<std::string> seen;
  if (row) {
    for (const auto& [pid, st] : after) {
      if (before.count(pid) != 0) continue;
      KS_ASSIGN_OR_RETURN(was_seen, t.Seen(row->id, pid));
      if (was_seen) seen.insert(pid);
    }
  }
  std::vector<v1::Event> events;
  if (row && row->verdict == v1::VERDICT_STALE) {
    v1::Event back;
    back.set_type(v1::EVENT_TYPE_CAME_BACK);
    events.push_back(std::move(back));
  }
  for (auto& e : DiffProducts(before, after, seen)) events.push_back(std::move(e));

  const v1::Verdict verdict = in.verdict;
  const int64_t order = 10 - VerdictRank(verdict);
  const std::string& products = in.products_joined;
  const std::string& labels = in.labels_joined;
  const Micros last_seen = row ? std::max(row->last_seen, in.receive_time) : in.receive_time;
  const auto seq = static_cast<int64_t>(in.sequence);
  // Columns 1-16 are the same in the full update and the insert; they differ from 17 on.
  const auto BindHostColumns = [&](Stmt& st) -> Stmt& {
    return st.Bind(1, std::string_view(in.hostname))
        .Bind(2, std::string_view(in.os_id))
        .Bind(3, std::string_view(in.os_version))
        .Bind(4, std::string_view(in.os_name))
        .Bind(5, std::string_view(in.os_pretty))
        .Bind(6, static_cast<int64_t>(verdict))
        .Bind(7, static_cast<int64_t>(verdict))
        .Bind(8, order)
        .Bind(9, std::string_view(products))
        .Bind(10, std::string_view(labels))
        .Bind(11, last_seen)
        .Bind(12, in.receive_time)
        .Bind(13, seq)
        .Bind(14, std::string_view(in.agent_version))
        .Bind(15, static_cast<int64_t>(in.platform))
        .Bind(16, static_cast<int64_t>(in.incomplete ? 1 : 0));
  };
  int64_t id = 0;
  if (row) {
    id = row->id;
    // The common report: nothing but time and sequence changed. Touch only what moved.
    const bool light = verdict == row->verdict && verdict == row->reported && SameProducts(before, after) &&
                       labels == row->labels && in.hostname == row->hostname && in.os_id == row->os_id &&
                       in.os_version == row->os_version && in.os_name == row->os_name &&
                       in.os_pretty == row->os_pretty && in.agent_version == row->agent_version &&
                       in.platform == row->platform && in.incomplete == row->incomplete;
    if (light) {
      t.update_host_light.Bind(1, last_seen).Bind(2, in.receive_time).Bind(3, seq).Bind(4, id);
      KS_RETURN_IF_ERROR(t.update_host_light.Run());
    } else {
      BindHostColumns(t.update_host).Bind(17, id);
      KS_RETURN_IF_ERROR(t.update_host.Run());
    }
  } else {
    BindHostColumns(t.insert_host).Bind(17, std::string_view(host_id)).Bind(18, in.receive_time);
    KS_RETURN_IF_ERROR(t.insert_host.Run());
    id = sqlite3_last_insert_rowid(t.db().get());
  }
  Stmt& doc = row ? t.update_doc : t.insert_doc;
  doc.BindBlob(1, in.facts_blob).BindBlob(2, in.report_blob).Bind(3, id);
  KS_RETURN_IF_ERROR(doc.Run());

  for (const auto& [pid, st] : after) {
    auto it = before.find(pid);
    if (it == before.end() || it->second.state != st.state || it->second.version != st.version ||
        it->second.name != st.name) {
      t.upsert_product.Bind(1, id)
          .Bind(2, std::string_view(pid))
          .Bind(3, static_cast<int64_t>(st.state))
          .Bind(4, std::string_view(st.version))
          .Bind(5, std::string_view(st.name));
      KS_RETURN_IF_ERROR(t.upsert_product.Run());
    }
    if (it == before.end() && seen.count(pid) == 0) {
      t.insert_seen.Bind(1, id).Bind(2, std::string_view(pid));
      KS_RETURN_IF_ERROR(t.insert_seen.Run());
    }
  }
  for (const auto& [pid, st] : before) {
    if (after.count(pid) == 0) {
      t.delete_product.Bind(1, id).Bind(2, std::string_view(pid));
      KS_RETURN_IF_ERROR(t.delete_product.Run());
    }
  }
  if (!row || labels != row->labels) {
    std::istringstream old_labels(row ? row->labels : std::string());
    std::string old_label;
    while (std::getline(old_labels, old_label)) {
      if (!old_label.empty()) fx.Count(kCounterLabel, old_label, "", -1);
    }
    for (const auto& label : in.labels) fx.Count(kCounterLabel, label, "", +1);
    if (row) {
      t.delete_labels.Bind(1, id);
      KS_RETURN_IF_ERROR(t.delete_labels.Run());
    }
    for (const auto& label : in.labels) {
      t.insert_label.Bind(1, id).Bind(2, std::string_view(label));
      KS_RETURN_IF_ERROR(t.insert_label.Run());
    }
  }

  // Aggregates.
  KS_RETURN_IF_ERROR(
      t.ChangeVerdict(host_id, in.receive_time, row ? row->verdict : v1::VERDICT_UNSPECIFIED, verdict, fx));
  const std::string new_os = OsKey(in.os_id, in.os_version);
  if (!row) {
    fx.Count(kCounterOs, new_os, in.os_label, +1);
  } else {
    const std::string old_os = OsKey(row->os_id, row->os_version);
    if (old_os != new_os) {
      fx.Count(kCounterOs, old_os, "", -1);
      fx.Count(kCounterOs, new_os, in.os_label, +1);
    }
  }
  if (!row || row->platform != in.platform) {
    if (row) fx.Count(kCounterPlatform, std::string(PlatformName(row->platform)), "", -1);
    fx.Count(kCounterPlatform, std::string(PlatformName(in.platform)), std::string(PlatformLabel(in.platform)), +1);
  }
  if (!SameProducts(before, after)) {
    std::set<std::string> ids;
    for (const auto& [pid, st] : before) ids.insert(pid);
    for (const auto& [pid, st] : after) ids.insert(pid);
    for (const auto& pid : ids) {
      auto b = before.find(pid);
      auto a = after.find(pid);
      const bool was = b != before.end() && Present(b->second.state);
      const bool is = a != after.end() && Present(a->second.state);
      if (was != is) fx.Count(kCounterProduct, pid, is ? a->second.name : "", is ? +1 : -1);
      if ((b == before.end()) != (a == after.end())) fx.Count(kCounterProductAny, pid, "", a != after.end() ? 1 : -1);
    }
  }

  for (auto& e : events) {
    e.set_host_id(host_id);
    e.set_hostname(in.hostname);
    e.set_sequence(in.sequence);
    KS_RETURN_IF_ERROR(t.AddEvent(std::move(e), in.receive_time, in.agent_time, fx));
  }
  out->kind = IngestKind::kStored;
  out->last_sequence = in.sequence;
  return Status::Ok();
}

Status ApplyContact(SqliteStore::Txn& t, SqliteStore::Effects& fx, const std::string& host_id, Micros time,
                    ContactOutcome* out) {
  if (host_id.empty()) return Status::InvalidArgument("contact: host_id is empty");
  KS_ASSIGN_OR_RETURN(row, t.FindHost(host_id));
  if (!row) return Status::Ok();
  out->last_sequence = row->last_sequence;
  const v1::Verdict verdict = row->verdict == v1::VERDICT_STALE ? row->reported : row->verdict;
  const Micros last_seen = std::max(row->last_seen, time);
  if (last_seen == row->last_seen && verdict == row->verdict) return Status::Ok();
  t.touch_host.Bind(1, last_seen)
      .Bind(2, static_cast<int64_t>(verdict))
      .Bind(3, static_cast<int64_t>(10 - VerdictRank(verdict)))
      .Bind(4, row->id);
  KS_RETURN_IF_ERROR(t.touch_host.Run());
  if (verdict != row->verdict) {
    KS_RETURN_IF_ERROR(t.ChangeVerdict(host_id, time, row->verdict, verdict, fx));
    v1::Event back;
    back.set_type(v1::EVENT_TYPE_CAME_BACK);
    back.set_host_id(host_id);
    back.set_hostname(row->hostname);
    const size_t before = fx.events.size();
    KS_RETURN_IF_ERROR(t.AddEvent(std::move(back), time, 0, fx));
    out->events.assign(fx.events.begin() + static_cast<std::ptrdiff_t>(before), fx.events.end());
  }
  return Status::Ok();
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Readers.

class SqliteStore::ReaderLease {
 public:
  ReaderLease(SqliteStore* store, std::unique_ptr<Db> db) : store_(store), db_(std::move(db)) {}
  ReaderLease(ReaderLease&&) = default;
  ReaderLease& operator=(ReaderLease&&) = delete;
  ~ReaderLease() {
    if (db_ == nullptr) return;
    std::lock_guard<std::mutex> lock(store_->readers_mu_);
    store_->idle_readers_.push_back(std::move(db_));
  }
  Db& db() { return *db_; }

 private:
  SqliteStore* store_;
  std::unique_ptr<Db> db_;
};

Result<SqliteStore::ReaderLease> SqliteStore::Reader() {
  {
    std::lock_guard<std::mutex> lock(readers_mu_);
    if (!idle_readers_.empty()) {
      auto db = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return ReaderLease(this, std::move(db));
    }
  }
  auto db = Db::Open(options_.path, false);
  if (!db.ok()) return db.status();
  KS_RETURN_IF_ERROR((*db)->Exec("PRAGMA query_only = 1; PRAGMA mmap_size = 1073741824; PRAGMA cache_size = -32768"));
  return ReaderLease(this, std::move(*db));
}

// ---------------------------------------------------------------------------------------------------------------

const char* IngestKindName(IngestKind kind) {
  switch (kind) {
    case IngestKind::kStored: return "stored";
    case IngestKind::kDuplicate: return "duplicate";
    case IngestKind::kStaleSequence: return "stale-sequence";
  }
  return "unknown";
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(SqliteStoreOptions options) {
  if (options.clock == nullptr) return Status::InvalidArgument("sqlite store: no clock given");
  if (!options.logger) options.logger = NullLogger();
  if (options.max_batch == 0) options.max_batch = 1;
  auto db = Db::Open(options.path, true);
  if (!db.ok()) return db.status();
  // WAL lets readers run beside the writer; FULL makes each COMMIT durable before its acks go out.
  KS_RETURN_IF_ERROR((*db)->Exec("PRAGMA journal_mode = WAL"));
  KS_RETURN_IF_ERROR((*db)->Exec("PRAGMA synchronous = FULL; PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY"));
  KS_RETURN_IF_ERROR(sqlite::Migrate(**db));

  std::string key;
  {
    auto get = Stmt::Prepare(**db, "SELECT value FROM meta WHERE key = 'page_token_key'");
    if (!get.ok()) return get.status();
    auto row = get->Step();
    if (!row.ok()) return row.status();
    if (*row) key = get->Blob(0);
  }
  if (key.empty()) {
    auto fresh = NewTokenKey();
    if (!fresh.ok()) return fresh.status();
    key = *fresh;
    auto put = Stmt::Prepare(**db, "INSERT OR REPLACE INTO meta(key, value) VALUES('page_token_key', ?)");
    if (!put.ok()) return put.status();
    put->BindBlob(1, key);
    KS_RETURN_IF_ERROR(put->Run());
  }
  // Planner statistics, sampled (analysis_limit) so this stays fast at a million hosts; refreshed by SweepStale
  // as the fleet grows.
  KS_RETURN_IF_ERROR((*db)->Exec("PRAGMA analysis_limit = 1000; ANALYZE"));
  auto txn = std::make_unique<Txn>(std::move(*db));
  KS_RETURN_IF_ERROR(txn->Prepare());
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(options), std::move(txn), std::move(key)));
}

SqliteStore::SqliteStore(SqliteStoreOptions options, std::unique_ptr<Txn> writer, std::string token_key)
    : options_(std::move(options)), tokens_(std::move(token_key)), writer_(std::move(writer)) {
  completion_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "ksweep-acks");
    CompletionLoop();
  });
  writer_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "ksweep-writer");
    WriterLoop();
    std::lock_guard<std::mutex> lock(done_mu_);
    writer_exited_ = true;
    done_cv_.notify_all();
  });
}

SqliteStore::~SqliteStore() { (void)Close(); }

Status SqliteStore::Close() {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (closing_ && !writer_thread_.joinable()) return Status::Ok();
    closing_ = true;
  }
  queue_cv_.notify_all();
  if (writer_thread_.joinable()) writer_thread_.join();
  // The completion thread drains every committed batch before it exits.
  if (completion_thread_.joinable()) completion_thread_.join();
  writer_.reset();
  std::lock_guard<std::mutex> lock(readers_mu_);
  idle_readers_.clear();
  return Status::Ok();
}

void SqliteStore::Enqueue(Op op) {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (!closing_) {
      queue_.push_back(std::move(op));
      queue_cv_.notify_one();
      return;
    }
  }
  op.complete(Status::Unavailable("store '" + options_.path + "' is closed"));
}

void SqliteStore::WriterLoop() {
  for (;;) {
    std::vector<Op> batch;
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      queue_cv_.wait(lock, [this] { return !queue_.empty() || closing_; });
      if (queue_.empty()) return;  // closing, and everything queued before was committed
      batch.reserve(std::min(queue_.size(), options_.max_batch));
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    // Almost every batch commits whole, so it is first run without a savepoint per write (two statements and a copy
    // of every page the write touches); a refused write sends it round again with them (Op::apply is re-runnable).
    Done done = RunBatch(std::move(batch), /*savepoints=*/false);
    std::lock_guard<std::mutex> lock(done_mu_);
    done_.push_back(std::move(done));
    done_cv_.notify_one();
  }
}

namespace {

// SQLite's answers that mean the data folder cannot take writes now, whatever is written: the write is refused as
// UNAVAILABLE (agents keep their spool and try again later) rather than failed as a bad report.
bool StorageRefuses(int code) {
  switch (code & 0xff) {
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
      return true;
    default:
      return false;
  }
}

}  // namespace

void SqliteStore::CompletionLoop() {
  for (;;) {
    Done done;
    {
      std::unique_lock<std::mutex> lock(done_mu_);
      done_cv_.wait(lock, [this] { return !done_.empty() || writer_exited_; });
      if (done_.empty()) return;  // the writer has exited and every batch it committed has been completed
      done = std::move(done_.front());
      done_.pop_front();
    }
    for (size_t i = 0; i < done.ops.size(); ++i) done.ops[i].complete(done.failed.ok() ? done.results[i] : done.failed);
    if (options_.events != nullptr && !done.events.empty()) options_.events->Publish(done.events);
  }
}

SqliteStore::Done SqliteStore::RunBatch(std::vector<Op> batch, bool savepoints) {
  Db& db = writer_->db();
  Done done;
  done.results.resize(batch.size());
  Effects all;
  int storage_error = SQLITE_OK;  // read before ROLLBACK, which resets the connection's error code
  Status failed = db.Exec("BEGIN IMMEDIATE");
  if (failed.ok()) {
    bool retry = false;
    for (size_t i = 0; i < batch.size(); ++i) {
      // With savepoints, a refused write rolls back alone and the rest of the batch still commits.
      if (savepoints) {
        failed = writer_->savepoint.Run();
        if (!failed.ok()) break;
      }
      Effects fx;
      Status s;
      try {
        s = batch[i].apply(*writer_, fx);
      } catch (const std::exception& e) {
        s = Status::Internal(std::string("store write: ") + e.what());
      }
      if (s.ok()) {
        all.Merge(std::move(fx));
      } else if (s.code() == Status::Code::kIoError && StorageRefuses(sqlite3_extended_errcode(db.get()))) {
        // Out of space for this write is out of space for the batch: the rest would fail the same way.
        failed = std::move(s);
        break;
      } else if (!savepoints) {
        retry = true;  // this write may have left part of itself behind: drop the batch, run it write by write
        break;
      } else {
        failed = writer_->rollback_to.Run();
      }
      if (savepoints && failed.ok()) failed = writer_->release.Run();
      if (!failed.ok()) break;
      done.results[i] = std::move(s);
    }
    if (retry) {
      (void)db.Exec("ROLLBACK");
      return RunBatch(std::move(batch), /*savepoints=*/true);
    }
    if (failed.ok()) failed = writer_->Flush(all);
    if (failed.ok()) failed = db.Exec("COMMIT");
  }
  if (!failed.ok()) {
    storage_error = sqlite3_extended_errcode(db.get());
    (void)db.Exec("ROLLBACK");
  }
  if (!failed.ok() && StorageRefuses(storage_error)) {
    if (!writer_->refusing) {
      options_.logger->error("event=storage_refusing db={} error=\"{}\" note=\"the data folder is full or not "
                             "writable: writes (reports, hellos, heartbeats) are refused with UNAVAILABLE and agents "
                             "keep them; reads are still served; writes resume by themselves once space returns\"",
                             options_.path, failed.message());
      writer_->refusing = true;
    }
    const Status refused = Status::Unavailable("collector storage refuses writes (" +
                                               std::string(sqlite3_errstr(storage_error)) + ", '" + options_.path +
                                               "'): nothing of this write was stored; send it again later");
    done.failed = refused;
    done.ops = std::move(batch);
    return done;
  }
  if (!failed.ok()) {
    options_.logger->error("store write failed db={} batch={} error=\"{}\"", options_.path, batch.size(),
                           failed.message());
    done.failed = std::move(failed);
  } else {
    done.events = std::move(all.events);
    if (writer_->refusing) {
      options_.logger->warn("event=storage_writable db={} note=\"writes succeed again\"", options_.path);
      writer_->refusing = false;
    }
  }
  done.ops = std::move(batch);
  return done;
}

Status SqliteStore::RunSync(std::function<Status(Txn&, Effects&)> apply) {
  std::promise<Status> done;
  auto future = done.get_future();
  Enqueue(Op{std::move(apply), [&done](const Status& s) { done.set_value(s); }});
  return future.get();
}

void SqliteStore::SubmitReport(ReportIn report, IngestCallback done) {
  auto prepared = PrepareReport(report);
  if (!prepared.ok()) {
    // Through the writer all the same, so the refusal is answered in order with the stream's earlier reports.
    Enqueue(Op{[error = prepared.status()](Txn&, Effects&) { return error; },
               [done = std::move(done)](const Status& s) { done(s); }});
    return;
  }
  auto in = std::make_shared<PreparedReport>(std::move(*prepared));
  auto out = std::make_shared<IngestOutcome>();
  Enqueue(Op{[in, out](Txn& t, Effects& fx) {
               const size_t first = fx.events.size();
               Status s = ApplyReport(t, fx, *in, out.get());
               if (s.ok()) out->events.assign(fx.events.begin() + static_cast<std::ptrdiff_t>(first), fx.events.end());
               return s;
             },
             [out, done = std::move(done)](const Status& s) {
               if (s.ok()) {
                 done(std::move(*out));
               } else {
                 done(s);
               }
             }});
}

void SqliteStore::SubmitContact(std::string host_id, Micros time, ContactCallback done) {
  auto out = std::make_shared<ContactOutcome>();
  Enqueue(Op{[host_id = std::move(host_id), time, out](Txn& t, Effects& fx) {
               return ApplyContact(t, fx, host_id, time, out.get());
             },
             [out, done = std::move(done)](const Status& s) {
               if (s.ok()) {
                 done(std::move(*out));
               } else {
                 done(s);
               }
             }});
}

Result<IngestOutcome> SqliteStore::IngestReport(ReportIn report) {
  std::promise<Result<IngestOutcome>> done;
  auto future = done.get_future();
  SubmitReport(std::move(report), [&done](Result<IngestOutcome> r) { done.set_value(std::move(r)); });
  return future.get();
}

Result<ContactOutcome> SqliteStore::Contact(std::string host_id, Micros time) {
  std::promise<Result<ContactOutcome>> done;
  auto future = done.get_future();
  SubmitContact(std::move(host_id), time, [&done](Result<ContactOutcome> r) { done.set_value(std::move(r)); });
  return future.get();
}

Result<std::vector<IngestOutcome>> SqliteStore::IngestBatch(std::vector<ReportIn> reports) {
  std::vector<PreparedReport> prepared;
  prepared.reserve(reports.size());
  for (size_t i = 0; i < reports.size(); ++i) {
    auto p = PrepareReport(reports[i]);
    if (!p.ok()) return Status::InvalidArgument("batch item " + std::to_string(i) + ": " + p.status().message());
    prepared.push_back(std::move(*p));
  }
  reports.clear();
  std::vector<IngestOutcome> outcomes(prepared.size());
  Status s = RunSync([&prepared, &outcomes](Txn& t, Effects& fx) {
    for (size_t i = 0; i < prepared.size(); ++i) {
      const size_t first = fx.events.size();
      Status r = ApplyReport(t, fx, prepared[i], &outcomes[i]);
      if (!r.ok()) return Status::InvalidArgument("batch item " + std::to_string(i) + ": " + r.message());
      outcomes[i].events.assign(fx.events.begin() + static_cast<std::ptrdiff_t>(first), fx.events.end());
    }
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return outcomes;
}

Result<std::vector<v1::Event>> SqliteStore::SweepStale(Micros now) {
  std::vector<v1::Event> events;
  Status s = RunSync([this, now, &events](Txn& t, Effects& fx) -> Status {
    const size_t first = fx.events.size();
    struct Stale {
      int64_t id;
      std::string host_id, hostname;
      v1::Verdict verdict;
    };
    std::vector<Stale> stale;
    {
      KS_ASSIGN_OR_RETURN(q, Stmt::Prepare(t.db(),
                                           "SELECT id, host_id, hostname, verdict FROM hosts "
                                           "WHERE last_seen < ? AND verdict <> ?"));
      q.Bind(1, now - options_.stale_after).Bind(2, static_cast<int64_t>(v1::VERDICT_STALE));
      for (;;) {
        KS_ASSIGN_OR_RETURN(row, q.Step());
        if (!row) break;
        stale.push_back({q.Int(0), q.Text(1), q.Text(2), static_cast<v1::Verdict>(q.Int(3))});
      }
    }
    KS_ASSIGN_OR_RETURN(mark, Stmt::Prepare(t.db(), "UPDATE hosts SET verdict = ?, verdict_order = ? WHERE id = ?"));
    for (const auto& h : stale) {
      mark.Bind(1, static_cast<int64_t>(v1::VERDICT_STALE))
          .Bind(2, static_cast<int64_t>(10 - VerdictRank(v1::VERDICT_STALE)))
          .Bind(3, h.id);
      KS_RETURN_IF_ERROR(mark.Run());
      KS_RETURN_IF_ERROR(t.ChangeVerdict(h.host_id, now, h.verdict, v1::VERDICT_STALE, fx));
      v1::Event e;
      e.set_type(v1::EVENT_TYPE_WENT_STALE);
      e.set_host_id(h.host_id);
      e.set_hostname(h.hostname);
      KS_RETURN_IF_ERROR(t.AddEvent(std::move(e), now, 0, fx));
    }
    if (options_.expire_after > 0) {
      std::string sql =
          "SELECT id, host_id, verdict, os_id, os_version, labels, platform FROM hosts WHERE last_seen < ?";
      if (!options_.expire_label.empty()) {
        sql += " AND id IN (SELECT host FROM host_labels WHERE label = ?)";
      }
      struct Expired {
        int64_t id;
        std::string host_id;
        v1::Verdict verdict;
        std::string os;
        std::string labels;
        v1::Platform platform;
      };
      std::vector<Expired> expired;
      {
        KS_ASSIGN_OR_RETURN(q, Stmt::Prepare(t.db(), sql));
        q.Bind(1, now - options_.expire_after);
        if (!options_.expire_label.empty()) q.Bind(2, std::string_view(options_.expire_label));
        for (;;) {
          KS_ASSIGN_OR_RETURN(row, q.Step());
          if (!row) break;
          expired.push_back({q.Int(0), q.Text(1), static_cast<v1::Verdict>(q.Int(2)), OsKey(q.Text(3), q.Text(4)),
                             q.Text(5), static_cast<v1::Platform>(q.Int(6))});
        }
      }
      for (const auto& h : expired) {
        KS_ASSIGN_OR_RETURN(products, t.LoadProducts(h.id));
        for (const auto& [pid, st] : products) {
          if (Present(st.state)) fx.Count(kCounterProduct, pid, "", -1);
          fx.Count(kCounterProductAny, pid, "", -1);
        }
        fx.Count(kCounterOs, h.os, "", -1);
        fx.Count(kCounterPlatform, std::string(PlatformName(h.platform)), "", -1);
        std::istringstream labels(h.labels);
        std::string label;
        while (std::getline(labels, label)) {
          if (!label.empty()) fx.Count(kCounterLabel, label, "", -1);
        }
        KS_RETURN_IF_ERROR(t.ChangeVerdict(h.host_id, now, h.verdict, v1::VERDICT_UNSPECIFIED, fx));
        for (const char* del : {"DELETE FROM host_products WHERE host = ?", "DELETE FROM host_labels WHERE host = ?",
                                "DELETE FROM product_seen WHERE host = ?", "DELETE FROM host_docs WHERE host = ?",
                                "DELETE FROM hosts WHERE id = ?"}) {
          KS_ASSIGN_OR_RETURN(d, Stmt::Prepare(t.db(), del));
          d.Bind(1, h.id);
          KS_RETURN_IF_ERROR(d.Run());
        }
      }
      if (!expired.empty()) {
        options_.logger->info("expired hosts count={} label={}", expired.size(), options_.expire_label);
      }
    }
    events.assign(fx.events.begin() + static_cast<std::ptrdiff_t>(first), fx.events.end());
    // Fresh planner statistics whenever the fleet size moved by a quarter since the last look.
    KS_ASSIGN_OR_RETURN(count, Stmt::Prepare(t.db(), "SELECT count(*) FROM hosts"));
    KS_ASSIGN_OR_RETURN(has_count, count.Step());
    const int64_t hosts = has_count ? count.Int(0) : 0;
    if (analyzed_hosts_ < 0 || hosts > analyzed_hosts_ + analyzed_hosts_ / 4 + 100 ||
        hosts < analyzed_hosts_ - analyzed_hosts_ / 4 - 100) {
      KS_RETURN_IF_ERROR(t.db().Exec("ANALYZE"));
      analyzed_hosts_ = hosts;
    }
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return events;
}

// ---------------------------------------------------------------------------------------------------------------
// Queries.

Result<uint64_t> SqliteStore::LastSequence(const std::string& host_id) {
  KS_ASSIGN_OR_RETURN(reader, Reader());
  KS_ASSIGN_OR_RETURN(q, Stmt::Prepare(reader.db(), "SELECT last_sequence FROM hosts WHERE host_id = ?"));
  q.Bind(1, host_id);
  KS_ASSIGN_OR_RETURN(row, q.Step());
  return row ? static_cast<uint64_t>(q.Int(0)) : uint64_t{0};
}

Result<v1::Summary> SqliteStore::GetSummary() {
  KS_ASSIGN_OR_RETURN(reader, Reader());
  KS_ASSIGN_OR_RETURN(q, Stmt::Prepare(reader.db(),
                                       "SELECT kind, key, label, hosts FROM counters WHERE kind IN (0, 1, 2, 5) "
                                       "AND hosts <> 0 ORDER BY kind, hosts DESC, key"));
  v1::Summary out;
  std::map<std::string, int64_t> verdicts;
  for (;;) {
    KS_ASSIGN_OR_RETURN(row, q.Step());
    if (!row) break;
    const int kind = static_cast<int>(q.Int(0));
    v1::Count c;
    c.set_key(q.Text(1));
    c.set_label(q.Text(2));
    c.set_hosts(q.Int(3));
    if (kind == kCounterVerdict) {
      verdicts[c.key()] = c.hosts();
    } else if (kind == kCounterProduct) {
      *out.add_by_product() = std::move(c);
    } else if (kind == kCounterOs) {
      *out.add_by_os() = std::move(c);
    } else if (kind == kCounterPlatform) {
      *out.add_by_platform() = std::move(c);
    }
  }
  int64_t total = 0;
  for (auto v : {v1::VERDICT_RUNNING, v1::VERDICT_INSTALLED, v1::VERDICT_REMNANT, v1::VERDICT_CLEAN,
                 v1::VERDICT_STALE}) {
    auto* c = out.add_by_verdict();
    c->set_key(VerdictName(v));
    c->set_hosts(verdicts[c->key()]);
    total += c->hosts();
  }
  out.set_total_hosts(total);
  out.set_stale_hosts(verdicts[VerdictName(v1::VERDICT_STALE)]);
  out.set_affected_hosts(verdicts[VerdictName(v1::VERDICT_RUNNING)] + verdicts[VerdictName(v1::VERDICT_INSTALLED)]);
  *out.mutable_as_of() = Ts(options_.clock->Now());
  return out;
}

namespace {

// Where a host query starts. SQLite's planner, left alone, likes to drive from an IN (subquery) even when that
// subquery selects a third of the fleet; with a million hosts the choice is the whole cost, so it is made here from
// the aggregate counters (exact per verdict, OS, label and product) and forced with INDEXED BY / CROSS JOIN.
enum class Drive { kAuto, kOrder, kVerdict, kPlatform, kOs, kProduct, kLabel };

// Exact matches below this: read them all from the most selective index and sort. Above it: walk the order index
// and filter, which reads about page_size * fleet / matches index entries.
constexpr int64_t kSortLimit = 2000;

struct Plan {
  Drive drive = Drive::kAuto;
  size_t drive_item = 0;  // which verdict set / platform set / os / product / label drives
};

struct Estimates {
  std::map<std::pair<int, std::string>, int64_t> counts;
  int64_t Get(int kind, const std::string& key) const {
    auto it = counts.find({kind, key});
    return it == counts.end() ? 0 : it->second;
  }
  int64_t Verdicts(const std::vector<v1::Verdict>& set) const {
    int64_t n = 0;
    for (auto v : set) n += Get(kCounterVerdict, VerdictName(v));
    return n;
  }
  int64_t Platforms(const std::vector<v1::Platform>& set) const {
    int64_t n = 0;
    for (auto p : set) n += Get(kCounterPlatform, std::string(PlatformName(p)));
    return n;
  }
  int64_t Os(const OsCondition& os) const {
    if (!os.version_id.empty()) return Get(kCounterOs, OsKey(os.id, os.version_id));
    int64_t n = 0;
    for (const auto& [k, v] : counts) {
      if (k.first == kCounterOs && (k.second == os.id || k.second.rfind(os.id + " ", 0) == 0)) n += v;
    }
    return n;
  }
};

Result<Estimates> LoadEstimates(Db& db) {
  auto q = Stmt::Prepare(db, "SELECT kind, key, hosts FROM counters WHERE kind IN (0, 2, 3, 4, 5)");
  if (!q.ok()) return q.status();
  Estimates e;
  for (;;) {
    auto row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    e.counts[{static_cast<int>(q->Int(0)), q->Text(1)}] = q->Int(2);
  }
  return e;
}

// The most selective condition that has an index of its own, or kAuto when none has.
Plan ChoosePlan(const HostQuery& query, const Estimates& est) {
  Plan best;
  int64_t best_n = -1;
  auto consider = [&](Drive d, size_t item, int64_t n) {
    if (best_n < 0 || n < best_n) {
      best = {d, item};
      best_n = n;
    }
  };
  for (size_t i = 0; i < query.verdict_sets.size(); ++i) consider(Drive::kVerdict, i, est.Verdicts(query.verdict_sets[i]));
  for (size_t i = 0; i < query.platform_sets.size(); ++i) {
    consider(Drive::kPlatform, i, est.Platforms(query.platform_sets[i]));
  }
  for (size_t i = 0; i < query.os.size(); ++i) consider(Drive::kOs, i, est.Os(query.os[i]));
  for (size_t i = 0; i < query.products.size(); ++i) {
    if (!query.products[i].product_id.empty()) {
      consider(Drive::kProduct, i, est.Get(kCounterProductAny, query.products[i].product_id));
    }
  }
  for (size_t i = 0; i < query.labels.size(); ++i) consider(Drive::kLabel, i, est.Get(kCounterLabel, query.labels[i]));
  // A literal hostname prefix or a last_seen range narrows by an index too, by an amount the counters cannot tell:
  // SQLite judges those.
  if (!query.hostname_globs.empty() || query.seen_after || query.seen_before) {
    if (best_n > kSortLimit) best = {};
  }
  return best;
}

const char* OrderIndex(v1::HostOrder order) {
  switch (order) {
    case v1::HOST_ORDER_LAST_SEEN: return "hosts_by_last_seen";
    case v1::HOST_ORDER_VERDICT: return "hosts_by_verdict";
    default: return "hosts_by_hostname";
  }
}

// FROM and WHERE for `query` driven as `plan` says (kOrder: by the index of `order`).
void BuildQuery(const HostQuery& query, const Plan& plan, v1::HostOrder order, std::string* sql,
                std::vector<Param>* params) {
  std::vector<std::string> terms;
  std::vector<Param> from_params;
  switch (plan.drive) {
    case Drive::kAuto: *sql += " FROM hosts h"; break;
    case Drive::kOrder: *sql += std::string(" FROM hosts h INDEXED BY ") + OrderIndex(order); break;
    case Drive::kVerdict: *sql += " FROM hosts h INDEXED BY hosts_by_verdict"; break;
    case Drive::kPlatform: *sql += " FROM hosts h INDEXED BY hosts_by_platform"; break;
    case Drive::kOs: *sql += " FROM hosts h INDEXED BY hosts_by_os"; break;
    case Drive::kProduct: {
      const auto& p = query.products[plan.drive_item];
      *sql += " FROM host_products dp CROSS JOIN hosts h ON h.id = dp.host";
      terms.push_back("dp.product_id = ?");
      from_params.emplace_back(p.product_id);
      if (!p.version.empty()) {
        terms.push_back("dp.version = ?");
        from_params.emplace_back(p.version);
      }
      break;
    }
    case Drive::kLabel:
      *sql += " FROM host_labels dl CROSS JOIN hosts h ON h.id = dl.host";
      terms.push_back("dl.label = ?");
      from_params.emplace_back(query.labels[plan.drive_item]);
      break;
  }
  for (auto& p : from_params) params->push_back(std::move(p));
  for (const auto& set : query.verdict_sets) {
    // verdict_order stands for the verdict one to one, and the ordering indexes carry it.
    std::string t = "h.verdict_order IN (";
    for (size_t i = 0; i < set.size(); ++i) {
      t += i == 0 ? "?" : ",?";
      params->push_back(static_cast<int64_t>(10 - VerdictRank(set[i])));
    }
    terms.push_back(t + ")");
  }
  for (const auto& set : query.platform_sets) {
    // The ordering indexes carry the platform too.
    std::string t = "h.platform IN (";
    for (size_t i = 0; i < set.size(); ++i) {
      t += i == 0 ? "?" : ",?";
      params->push_back(static_cast<int64_t>(set[i]));
    }
    terms.push_back(t + ")");
  }
  for (size_t i = 0; i < query.products.size(); ++i) {
    if (plan.drive == Drive::kProduct && i == plan.drive_item) continue;
    const auto& p = query.products[i];
    std::string t = "EXISTS (SELECT 1 FROM host_products p WHERE p.host = h.id";
    if (!p.product_id.empty()) {
      t += " AND p.product_id = ?";
      params->push_back(p.product_id);
    }
    if (!p.version.empty()) {
      t += " AND p.version = ?";
      params->push_back(p.version);
    }
    terms.push_back(t + ")");
  }
  for (const auto& os : query.os) {
    std::string t = "h.os_id = ?";
    params->push_back(os.id);
    if (!os.version_id.empty()) {
      t += " AND h.os_version = ?";
      params->push_back(os.version_id);
    }
    terms.push_back(t);
  }
  for (const auto& g : query.hostname_globs) {
    terms.push_back("h.hostname GLOB ?");
    params->push_back(g);
  }
  for (size_t i = 0; i < query.labels.size(); ++i) {
    if (plan.drive == Drive::kLabel && i == plan.drive_item) continue;
    // Against the labels column, which the ordering indexes carry: no lookup per host.
    terms.push_back("instr(char(10) || h.labels || char(10), ?) > 0");
    params->push_back("\n" + query.labels[i] + "\n");
  }
  if (query.seen_after) {
    terms.push_back("h.last_seen >= ?");
    params->push_back(*query.seen_after);
  }
  if (query.seen_before) {
    terms.push_back("h.last_seen < ?");
    params->push_back(*query.seen_before);
  }
  for (size_t i = 0; i < terms.size(); ++i) {
    *sql += i == 0 ? " WHERE " : " AND ";
    *sql += terms[i];
  }
}

// Columns: kSummaryColumns.
void FillSummary(Stmt& q, v1::HostSummary* s) {
  s->set_host_id(q.Text(0));
  s->set_hostname(q.Text(1));
  s->set_verdict(static_cast<v1::Verdict>(q.Int(2)));
  for (auto& p : SplitProducts(q.Text(3))) s->add_products(std::move(p));
  *s->mutable_first_seen() = Ts(q.Int(4));
  *s->mutable_last_seen() = Ts(q.Int(5));
  s->set_agent_version(q.Text(6));
  s->set_last_sequence(static_cast<uint64_t>(q.Int(7)));
  auto* os = s->mutable_os();
  os->set_id(q.Text(8));
  os->set_version_id(q.Text(9));
  os->set_name(q.Text(10));
  os->set_pretty_name(q.Text(11));
  std::istringstream labels(q.Text(12));
  std::string label;
  while (std::getline(labels, label)) {
    if (!label.empty()) s->add_labels(label);
  }
  s->set_platform(static_cast<v1::Platform>(q.Int(13)));
  s->set_incomplete(q.Int(14) != 0);
}

constexpr char kSummaryColumns[] =
    "h.host_id, h.hostname, h.verdict, h.products, h.first_seen, h.last_seen, h.agent_version, h.last_sequence, "
    "h.os_id, h.os_version, h.os_name, h.os_pretty, h.labels, h.platform, h.incomplete, h.verdict_order, h.id";
constexpr int kColVerdictOrder = 15;
constexpr int kColId = 16;

}  // namespace

Result<v1::ListHostsResponse> SqliteStore::ListHosts(const HostQuery& query, v1::HostOrder order, int page_size,
                                                     const std::string& page_token) {
  KS_ASSIGN_OR_RETURN(size, CheckPageSize(page_size));
  if (!v1::HostOrder_IsValid(order)) {
    return Status::InvalidArgument("order_by " + std::to_string(order) + ": not a HostOrder");
  }
  if (order == v1::HOST_ORDER_UNSPECIFIED) order = v1::HOST_ORDER_HOSTNAME;
  const std::string canonical = CanonicalQuery(query, order);
  const size_t key_fields = order == v1::HOST_ORDER_VERDICT ? 3 : 2;

  std::vector<std::string> cursor;
  int64_t total = -1;
  if (!page_token.empty()) {
    KS_ASSIGN_OR_RETURN(opened, tokens_.Open(canonical, page_token, key_fields + 1));
    cursor = std::move(opened);
    KS_ASSIGN_OR_RETURN(t, ParseInt(cursor[0]));
    total = t;
  }

  KS_ASSIGN_OR_RETURN(reader, Reader());
  Db& db = reader.db();
  // One snapshot for the count and the page.
  KS_RETURN_IF_ERROR(db.Exec("BEGIN"));
  struct EndRead {
    Db& db;
    ~EndRead() { (void)db.Exec("COMMIT"); }
  } end_read{db};

  KS_ASSIGN_OR_RETURN(est, LoadEstimates(db));
  const Plan count_plan = ChoosePlan(query, est);
  if (total < 0) {
    const size_t conditions = query.verdict_sets.size() + query.platform_sets.size() + query.products.size() +
                              query.os.size() +
                              query.hostname_globs.size() + query.labels.size() + (query.seen_after ? 1 : 0) +
                              (query.seen_before ? 1 : 0);
    // Exact from the counters (kept in the same transactions as the rows) when one condition they track is all.
    if (query.empty()) {
      total = 0;
      for (const auto& [k, v] : est.counts) {
        if (k.first == kCounterVerdict) total += v;
      }
    } else if (conditions == 1 && query.verdict_sets.size() == 1) {
      total = est.Verdicts(query.verdict_sets[0]);
    } else if (conditions == 1 && query.platform_sets.size() == 1) {
      total = est.Platforms(query.platform_sets[0]);
    } else if (conditions == 1 && query.os.size() == 1) {
      total = est.Os(query.os[0]);
    } else if (conditions == 1 && query.labels.size() == 1) {
      total = est.Get(kCounterLabel, query.labels[0]);
    } else if (conditions == 1 && query.products.size() == 1 && query.products[0].version.empty()) {
      total = est.Get(kCounterProductAny, query.products[0].product_id);
    } else if (conditions == 1 && query.products.size() == 1 && count_plan.drive == Drive::kProduct) {
      // Product at a version: the product index alone answers.
      KS_ASSIGN_OR_RETURN(c, Stmt::Prepare(db, "SELECT count(*) FROM host_products WHERE product_id = ? AND "
                                               "version = ?"));
      c.Bind(1, query.products[0].product_id).Bind(2, query.products[0].version);
      KS_ASSIGN_OR_RETURN(row, c.Step());
      total = row ? c.Int(0) : 0;
    } else {
      std::string count_sql = "SELECT count(*)";
      std::vector<Param> count_params;
      BuildQuery(query, count_plan, order, &count_sql, &count_params);
      KS_ASSIGN_OR_RETURN(c, Stmt::Prepare(db, count_sql));
      BindAll(c, count_params);
      KS_ASSIGN_OR_RETURN(row, c.Step());
      total = row ? c.Int(0) : 0;
    }
  }
  // Few matches: read them all from the selective index and sort. Many: walk the order index and filter.
  const Plan page_plan =
      (query.empty() || total > kSortLimit) ? Plan{Drive::kOrder, 0} : count_plan;

  std::string sql = std::string("SELECT ") + kSummaryColumns;
  std::vector<Param> params;
  BuildQuery(query, page_plan, order, &sql, &params);
  if (!cursor.empty()) {
    const char* joiner = sql.find(" WHERE ") == std::string::npos ? " WHERE " : " AND ";
    if (order == v1::HOST_ORDER_HOSTNAME) {
      sql += std::string(joiner) + "(h.hostname, h.host_id) > (?, ?)";
      params.emplace_back(cursor[1]);
      params.emplace_back(cursor[2]);
    } else if (order == v1::HOST_ORDER_LAST_SEEN) {
      KS_ASSIGN_OR_RETURN(seen, ParseInt(cursor[1]));
      sql += std::string(joiner) + "(h.last_seen, h.host_id) < (?, ?)";
      params.emplace_back(seen);
      params.emplace_back(cursor[2]);
    } else {
      KS_ASSIGN_OR_RETURN(rank, ParseInt(cursor[1]));
      sql += std::string(joiner) + "(h.verdict_order, h.hostname, h.host_id) > (?, ?, ?)";
      params.emplace_back(rank);
      params.emplace_back(cursor[2]);
      params.emplace_back(cursor[3]);
    }
  }
  if (order == v1::HOST_ORDER_HOSTNAME) {
    sql += " ORDER BY h.hostname, h.host_id";
  } else if (order == v1::HOST_ORDER_LAST_SEEN) {
    sql += " ORDER BY h.last_seen DESC, h.host_id DESC";
  } else {
    sql += " ORDER BY h.verdict_order, h.hostname, h.host_id";
  }
  sql += " LIMIT " + std::to_string(size + 1);

  KS_ASSIGN_OR_RETURN(q, Stmt::Prepare(db, sql));
  BindAll(q, params);
  v1::ListHostsResponse out;
  out.set_total_size(total);
  std::vector<std::string> last;
  for (;;) {
    KS_ASSIGN_OR_RETURN(row, q.Step());
    if (!row) break;
    if (out.hosts_size() == size) {
      out.set_next_page_token(tokens_.Seal(canonical, last));
      break;
    }
    auto* s = out.add_hosts();
    FillSummary(q, s);
    if (order == v1::HOST_ORDER_HOSTNAME) {
      last = {std::to_string(total), s->hostname(), s->host_id()};
    } else if (order == v1::HOST_ORDER_LAST_SEEN) {
      last = {std::to_string(total), std::to_string(q.Int(5)), s->host_id()};
    } else {
      last = {std::to_string(total), std::to_string(q.Int(kColVerdictOrder)), s->hostname(), s->host_id()};
    }
  }
  return out;
}

Result<std::vector<std::string>> SqliteStore::SelectHostIds(const HostQuery& query, size_t limit) {
  std::string sql = "SELECT h.host_id";
  std::vector<Param> params;
  BuildQuery(query, Plan{}, v1::HOST_ORDER_HOSTNAME, &sql, &params);
  sql += " ORDER BY h.hostname, h.host_id LIMIT " + std::to_string(limit);
  KS_ASSIGN_OR_RETURN(reader, Reader());
  KS_ASSIGN_OR_RETURN(q, Stmt::Prepare(reader.db(), sql));
  BindAll(q, params);
  std::vector<std::string> out;
  for (;;) {
    KS_ASSIGN_OR_RETURN(row, q.Step());
    if (!row) break;
    out.push_back(q.Text(0));
  }
  return out;
}

namespace {

constexpr char kEventColumns[] =
    "id, type, host_id, hostname, product_id, old_state, new_state, old_version, new_version, time, agent_time, "
    "sequence";

v1::Event ReadEvent(Stmt& q) {
  v1::Event e;
  e.set_id(q.Int(0));
  e.set_type(static_cast<v1::EventType>(q.Int(1)));
  e.set_host_id(q.Text(2));
  e.set_hostname(q.Text(3));
  e.set_product_id(q.Text(4));
  e.set_old_state(static_cast<v1::ProductState>(q.Int(5)));
  e.set_new_state(static_cast<v1::ProductState>(q.Int(6)));
  e.set_old_version(q.Text(7));
  e.set_new_version(q.Text(8));
  *e.mutable_time() = Ts(q.Int(9));
  if (q.Int(10) != 0) *e.mutable_agent_time() = Ts(q.Int(10));
  e.set_sequence(static_cast<uint64_t>(q.Int(11)));
  return e;
}

// A host id, else the most recently seen host of that hostname, else the text itself (an expired host's id).
Result<std::string> ResolveHostId(Db& db, const std::string& host) {
  auto q = Stmt::Prepare(db,
                         "SELECT host_id FROM hosts WHERE host_id = ?1 UNION ALL "
                         "SELECT * FROM (SELECT host_id FROM hosts WHERE hostname = ?1 ORDER BY last_seen DESC) "
                         "LIMIT 1");
  if (!q.ok()) return q.status();
  q->Bind(1, host);
  auto row = q->Step();
  if (!row.ok()) return row.status();
  return *row ? q->Text(0) : host;
}

}  // namespace

Result<v1::Host> SqliteStore::GetHost(const std::string& host, int history_limit) {
  if (host.empty()) return Status::InvalidArgument("host: empty (give a host id or a hostname)");
  if (history_limit < 0 || history_limit > kMaxPageSize) {
    return Status::InvalidArgument("history_limit " + std::to_string(history_limit) + ": must be 0 to " +
                                   std::to_string(kMaxPageSize));
  }
  if (history_limit == 0) history_limit = kDefaultPageSize;
  KS_ASSIGN_OR_RETURN(reader, Reader());
  Db& db = reader.db();
  KS_RETURN_IF_ERROR(db.Exec("BEGIN"));
  struct EndRead {
    Db& db;
    ~EndRead() { (void)db.Exec("COMMIT"); }
  } end_read{db};
  KS_ASSIGN_OR_RETURN(host_id, ResolveHostId(db, host));
  KS_ASSIGN_OR_RETURN(q, Stmt::Prepare(db, std::string("SELECT ") + kSummaryColumns +
                                               ", d.facts, d.report FROM hosts h JOIN host_docs d ON d.host = h.id "
                                               "WHERE h.host_id = ?"));
  q.Bind(1, host_id);
  KS_ASSIGN_OR_RETURN(row, q.Step());
  if (!row) return Status::NotFound("host '" + host + "': no host with this id or hostname");
  v1::Host out;
  FillSummary(q, out.mutable_summary());
  out.mutable_facts()->ParseFromString(q.Blob(kColId + 1));
  v1::HostReport report;
  if (report.ParseFromString(q.Blob(kColId + 2))) {
    *out.mutable_findings() = report.findings();
    for (const auto& probe : report.probes()) {
      if (probe.state() == v1::PROBE_STATE_FAILED) *out.add_failed_probes() = probe;
    }
  }

  KS_ASSIGN_OR_RETURN(h, Stmt::Prepare(db, std::string("SELECT ") + kEventColumns +
                                               " FROM events WHERE host_id = ? ORDER BY id DESC LIMIT ?"));
  h.Bind(1, host_id).Bind(2, static_cast<int64_t>(history_limit));
  for (;;) {
    KS_ASSIGN_OR_RETURN(more, h.Step());
    if (!more) break;
    *out.add_history() = ReadEvent(h);
  }
  return out;
}

Result<v1::ListEventsResponse> SqliteStore::ListEvents(const EventQuery& query, int page_size,
                                                       const std::string& page_token) {
  KS_ASSIGN_OR_RETURN(size, CheckPageSize(page_size));
  for (auto t : query.types) {
    if (!v1::EventType_IsValid(t) || t == v1::EVENT_TYPE_UNSPECIFIED) {
      return Status::InvalidArgument("types: " + std::to_string(t) + " is not an event type");
    }
  }
  const std::string canonical = CanonicalQuery(query);
  int64_t after = query.after_id;
  if (!page_token.empty()) {
    KS_ASSIGN_OR_RETURN(cursor, tokens_.Open(canonical, page_token, 1));
    KS_ASSIGN_OR_RETURN(id, ParseInt(cursor[0]));
    after = id;
  }
  KS_ASSIGN_OR_RETURN(reader, Reader());
  Db& db = reader.db();
  std::string sql = std::string("SELECT ") + kEventColumns + " FROM events WHERE id > ?";
  std::vector<Param> params{after};
  if (!query.host.empty()) {
    KS_ASSIGN_OR_RETURN(host_id, ResolveHostId(db, query.host));
    sql += " AND host_id = ?";
    params.push_back(host_id);
  }
  if (!query.types.empty()) {
    sql += " AND type IN (";
    for (size_t i = 0; i < query.types.size(); ++i) {
      sql += i == 0 ? "?" : ",?";
      params.push_back(static_cast<int64_t>(query.types[i]));
    }
    sql += ")";
  }
  if (query.since) {
    sql += " AND time >= ?";
    params.push_back(*query.since);
  }
  sql += " ORDER BY id LIMIT " + std::to_string(size + 1);
  KS_ASSIGN_OR_RETURN(q, Stmt::Prepare(db, sql));
  BindAll(q, params);
  v1::ListEventsResponse out;
  for (;;) {
    KS_ASSIGN_OR_RETURN(row, q.Step());
    if (!row) break;
    if (out.events_size() == size) {
      out.set_next_page_token(
          tokens_.Seal(canonical, {std::to_string(out.events(out.events_size() - 1).id())}));
      break;
    }
    *out.add_events() = ReadEvent(q);
  }
  return out;
}

Result<v1::Trend> SqliteStore::GetTrend(int days) {
  if (days == 0) days = 30;
  if (days < 0 || days > 3660) {
    return Status::InvalidArgument("days " + std::to_string(days) + ": must be 1 to 3660 (0: default 30)");
  }
  const int64_t today = DayOf(options_.clock->Now());
  const int64_t first = today - days + 1;
  KS_ASSIGN_OR_RETURN(reader, Reader());
  Db& db = reader.db();
  KS_RETURN_IF_ERROR(db.Exec("BEGIN"));
  struct EndRead {
    Db& db;
    ~EndRead() { (void)db.Exec("COMMIT"); }
  } end_read{db};
  std::map<int, int64_t> state;  // verdict -> hosts, at the end of the day before `first`
  {
    KS_ASSIGN_OR_RETURN(q, Stmt::Prepare(db, "SELECT verdict, sum(delta) FROM trend_delta WHERE day < ? "
                                             "GROUP BY verdict"));
    q.Bind(1, first);
    for (;;) {
      KS_ASSIGN_OR_RETURN(row, q.Step());
      if (!row) break;
      state[static_cast<int>(q.Int(0))] = q.Int(1);
    }
  }
  KS_ASSIGN_OR_RETURN(q, Stmt::Prepare(db, "SELECT day, verdict, delta FROM trend_delta WHERE day >= ? AND day <= ? "
                                           "ORDER BY day"));
  q.Bind(1, first).Bind(2, today);
  KS_ASSIGN_OR_RETURN(has_row, q.Step());
  bool more = has_row;
  v1::Trend out;
  for (int64_t day = first; day <= today; ++day) {
    while (more && q.Int(0) == day) {
      state[static_cast<int>(q.Int(1))] += q.Int(2);
      KS_ASSIGN_OR_RETURN(next, q.Step());
      more = next;
    }
    auto* p = out.add_points();
    p->set_date(DateOf(day));
    p->set_running(state[v1::VERDICT_RUNNING]);
    p->set_installed(state[v1::VERDICT_INSTALLED]);
    p->set_remnant(state[v1::VERDICT_REMNANT]);
    p->set_clean(state[v1::VERDICT_CLEAN]);
    p->set_affected_hosts(p->running() + p->installed());
  }
  return out;
}

}  // namespace ksweep::server
