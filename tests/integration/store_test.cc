// Store conformance suite: written against server/store/store.h only, so every backend (SQLite now, PostgreSQL
// later) runs the same tests. Real databases in temp folders; time is a ManualClock.
#include <gtest/gtest.h>
#include <google/protobuf/util/time_util.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "server/clock.h"
#include "server/store/sqlite_store.h"
#include "server/store/store.h"

namespace ksweep::server {
namespace {

namespace fs = std::filesystem;
using google::protobuf::util::TimeUtil;

constexpr Micros kHour = 3600 * kMicrosPerSecond;
constexpr Micros kDay = kMicrosPerDay;
constexpr Micros kStart = 1'767'225'600 * kMicrosPerSecond + 12 * kHour;  // 2026-01-01T12:00:00Z

struct StoreSetup {
  std::string dir;
  const Clock* clock = nullptr;
  EventSink* sink = nullptr;
  Micros stale_after = 24 * kHour;
  Micros expire_after = 0;
  std::string expire_label = "ephemeral";
};

using StoreFactory = std::function<Result<StorePtr>(const StoreSetup&)>;

struct Backend {
  std::string name;
  StoreFactory make;
};

void PrintTo(const Backend& backend, std::ostream* os) { *os << backend.name; }

Result<StorePtr> MakeSqlite(const StoreSetup& s) {
  SqliteStoreOptions o;
  o.path = s.dir + "/ksweep.db";
  o.clock = s.clock;
  o.events = s.sink;
  o.stale_after = s.stale_after;
  o.expire_after = s.expire_after;
  o.expire_label = s.expire_label;
  auto store = SqliteStore::Open(std::move(o));
  if (!store.ok()) return store.status();
  return StorePtr(std::move(*store));
}

class RecordingSink : public EventSink {
 public:
  void Publish(const std::vector<v1::Event>& events) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& e : events) events_.push_back(e);
  }
  std::vector<v1::Event> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::vector<v1::Event> events_;
};

v1::Finding Product(const std::string& id, v1::ProductState state, const std::string& version) {
  v1::Finding f;
  f.set_product_id(id);
  f.set_product_name("Kaspersky " + id);
  f.set_vendor("Kaspersky");
  f.set_state(state);
  f.set_version(version);
  auto* e = f.add_evidence();
  e->set_kind(v1::EVIDENCE_KIND_DPKG_PACKAGE);
  e->set_detail("dpkg package " + id + " " + version);
  e->set_path("/var/lib/dpkg/status");
  e->set_strength(v1::STRENGTH_STRONG);
  e->set_implies(state);
  return f;
}

v1::HostFacts Facts(const std::string& id, const std::string& hostname, const std::string& os = "debian",
                    const std::string& os_version = "12", std::vector<std::string> labels = {}) {
  v1::HostFacts h;
  h.set_host_id(id);
  h.set_hostname(hostname);
  h.mutable_os()->set_id(os);
  h.mutable_os()->set_version_id(os_version);
  h.mutable_os()->set_pretty_name(os + " " + os_version);
  h.set_arch("x86_64");
  h.set_root("/");
  for (auto& l : labels) h.add_labels(l);
  return h;
}

v1::Verdict VerdictOf(const std::vector<v1::Finding>& findings) {
  v1::Verdict v = v1::VERDICT_CLEAN;
  for (const auto& f : findings) {
    const auto fv = static_cast<v1::Verdict>(static_cast<int>(f.state()) + 1);
    if (fv > v) v = fv;
  }
  return v;
}

ReportIn Report(const v1::HostFacts& facts, uint64_t seq, std::vector<v1::Finding> findings, Micros now) {
  ReportIn r;
  r.host = facts;
  r.sequence = seq;
  *r.report.mutable_host() = facts;
  r.report.set_verdict(VerdictOf(findings));
  for (auto& f : findings) *r.report.add_findings() = std::move(f);
  r.report.set_agent_version("0.1.0");
  r.report.set_rules_version("test");
  r.agent_time = now - 1000;
  r.receive_time = now;
  return r;
}

template <typename Events>
std::vector<v1::EventType> Types(const Events& events) {
  std::vector<v1::EventType> out;
  for (const auto& e : events) out.push_back(e.type());
  return out;
}

int64_t VerdictCount(const v1::Summary& s, const std::string& key) {
  for (const auto& c : s.by_verdict()) {
    if (c.key() == key) return c.hosts();
  }
  return -1;
}

class StoreConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ksweep-store-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    setup_.dir = dir_.string();
    setup_.clock = &clock_;
    setup_.sink = &sink_;
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  void Reopen() {
    store_.reset();
    auto s = GetParam().make(setup_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  IngestOutcome Ingest(ReportIn r) {
    auto out = store_->IngestReport(std::move(r));
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    return out.ok() ? *out : IngestOutcome{};
  }
  v1::ListHostsResponse List(const HostQuery& q, v1::HostOrder order = v1::HOST_ORDER_HOSTNAME, int size = 100,
                             const std::string& token = "") {
    auto r = store_->ListHosts(q, order, size, token);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : v1::ListHostsResponse{};
  }
  std::vector<std::string> Hostnames(const HostQuery& q, v1::HostOrder order = v1::HOST_ORDER_HOSTNAME) {
    std::vector<std::string> out;
    const auto page = List(q, order);
    for (const auto& h : page.hosts()) out.push_back(h.hostname());
    return out;
  }

  fs::path dir_;
  ManualClock clock_{kStart};
  RecordingSink sink_;
  StoreSetup setup_;
  StorePtr store_;
};

TEST_P(StoreConformance, FirstReportStoresHostFindingsAndDetectedEvent) {
  const auto facts = Facts("h1", "web-1");
  auto out = Ingest(Report(facts, 1, {Product("kesl", v1::PRODUCT_STATE_RUNNING, "12.1.0")}, kStart));
  EXPECT_EQ(out.kind, IngestKind::kStored);
  EXPECT_EQ(out.last_sequence, 1u);
  ASSERT_EQ(Types(out.events), std::vector<v1::EventType>{v1::EVENT_TYPE_DETECTED});
  EXPECT_EQ(out.events[0].product_id(), "kesl");
  EXPECT_EQ(out.events[0].new_state(), v1::PRODUCT_STATE_RUNNING);
  EXPECT_EQ(out.events[0].new_version(), "12.1.0");
  EXPECT_EQ(out.events[0].host_id(), "h1");
  EXPECT_EQ(out.events[0].hostname(), "web-1");
  EXPECT_EQ(out.events[0].sequence(), 1u);
  EXPECT_GT(out.events[0].id(), 0);
  EXPECT_EQ(TimeUtil::TimestampToMicroseconds(out.events[0].time()), kStart);

  auto host = store_->GetHost("web-1", 0);
  ASSERT_TRUE(host.ok()) << host.status().ToString();
  EXPECT_EQ(host->summary().host_id(), "h1");
  EXPECT_EQ(host->summary().verdict(), v1::VERDICT_RUNNING);
  EXPECT_EQ(host->summary().os().id(), "debian");
  EXPECT_EQ(host->summary().last_sequence(), 1u);
  EXPECT_EQ(std::vector<std::string>(host->summary().products().begin(), host->summary().products().end()),
            std::vector<std::string>{"kesl"});
  EXPECT_EQ(host->facts().hostname(), "web-1");
  ASSERT_EQ(host->findings_size(), 1);
  ASSERT_EQ(host->findings(0).evidence_size(), 1);
  EXPECT_EQ(host->findings(0).evidence(0).detail(), "dpkg package kesl 12.1.0");
  ASSERT_EQ(host->history_size(), 1);
  EXPECT_EQ(host->history(0).type(), v1::EVENT_TYPE_DETECTED);

  auto by_id = store_->GetHost("h1", 0);
  ASSERT_TRUE(by_id.ok());
  EXPECT_EQ(by_id->summary().hostname(), "web-1");
  auto missing = store_->GetHost("nope", 0);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_NE(missing.status().message().find("nope"), std::string::npos);

  auto seq = store_->LastSequence("h1");
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 1u);
  auto none = store_->LastSequence("other");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0u);
}

TEST_P(StoreConformance, DuplicateSequenceIsAcknowledgedAndChangesNothing) {
  const auto facts = Facts("h1", "web-1");
  Ingest(Report(facts, 5, {Product("kesl", v1::PRODUCT_STATE_RUNNING, "12.1.0")}, kStart));
  const auto before = store_->GetHost("h1", 0);
  ASSERT_TRUE(before.ok());
  // Same sequence, different content: a re-sent report is the same report; the stored one stays.
  auto out = Ingest(Report(facts, 5, {}, kStart + kHour));
  EXPECT_EQ(out.kind, IngestKind::kDuplicate);
  EXPECT_EQ(out.last_sequence, 5u);
  EXPECT_TRUE(out.events.empty());
  const auto after = store_->GetHost("h1", 0);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->SerializeAsString(), before->SerializeAsString());
}

TEST_P(StoreConformance, BackwardsSequenceIsRefusedAndChangesNothing) {
  const auto facts = Facts("h1", "web-1");
  Ingest(Report(facts, 9, {Product("kesl", v1::PRODUCT_STATE_RUNNING, "12.1.0")}, kStart));
  const auto before = store_->GetHost("h1", 0);
  auto out = Ingest(Report(facts, 3, {}, kStart + kHour));
  EXPECT_EQ(out.kind, IngestKind::kStaleSequence);
  EXPECT_EQ(out.last_sequence, 9u);
  EXPECT_TRUE(out.events.empty());
  const auto after = store_->GetHost("h1", 0);
  EXPECT_EQ(after->SerializeAsString(), before->SerializeAsString());
}

TEST_P(StoreConformance, HistoryIsDerivedByComparingSnapshots) {
  const auto facts = Facts("h1", "web-1");
  Micros t = kStart;
  auto e1 = Ingest(Report(facts, 1,
                          {Product("kesl", v1::PRODUCT_STATE_RUNNING, "12.1.0"),
                           Product("klnagent64", v1::PRODUCT_STATE_INSTALLED, "14.0")},
                          t += kHour))
                .events;
  EXPECT_EQ(Types(e1), (std::vector<v1::EventType>{v1::EVENT_TYPE_DETECTED, v1::EVENT_TYPE_DETECTED}));
  // Unchanged snapshot: no event.
  EXPECT_TRUE(Ingest(Report(facts, 2,
                            {Product("kesl", v1::PRODUCT_STATE_RUNNING, "12.1.0"),
                             Product("klnagent64", v1::PRODUCT_STATE_INSTALLED, "14.0")},
                            t += kHour))
                  .events.empty());
  // kesl stops running, klnagent64 upgraded.
  auto e3 = Ingest(Report(facts, 3,
                          {Product("kesl", v1::PRODUCT_STATE_INSTALLED, "12.1.0"),
                           Product("klnagent64", v1::PRODUCT_STATE_INSTALLED, "15.0")},
                          t += kHour))
                .events;
  ASSERT_EQ(Types(e3), (std::vector<v1::EventType>{v1::EVENT_TYPE_STATE_CHANGED, v1::EVENT_TYPE_VERSION_CHANGED}));
  EXPECT_EQ(e3[0].old_state(), v1::PRODUCT_STATE_RUNNING);
  EXPECT_EQ(e3[0].new_state(), v1::PRODUCT_STATE_INSTALLED);
  EXPECT_EQ(e3[1].old_version(), "14.0");
  EXPECT_EQ(e3[1].new_version(), "15.0");
  // kesl removed leaving remnants; klnagent64 gone entirely.
  auto e4 = Ingest(Report(facts, 4, {Product("kesl", v1::PRODUCT_STATE_REMNANT, "")}, t += kHour)).events;
  ASSERT_EQ(Types(e4), (std::vector<v1::EventType>{v1::EVENT_TYPE_REMOVED, v1::EVENT_TYPE_REMOVED}));
  EXPECT_EQ(e4[0].product_id(), "kesl");
  EXPECT_EQ(e4[0].new_state(), v1::PRODUCT_STATE_REMNANT);
  EXPECT_EQ(e4[1].product_id(), "klnagent64");
  EXPECT_EQ(e4[1].new_state(), v1::PRODUCT_STATE_UNSPECIFIED);
  // Both come back.
  auto e5 = Ingest(Report(facts, 5,
                          {Product("kesl", v1::PRODUCT_STATE_INSTALLED, "12.2.0"),
                           Product("klnagent64", v1::PRODUCT_STATE_INSTALLED, "15.0")},
                          t += kHour))
                .events;
  EXPECT_EQ(Types(e5), (std::vector<v1::EventType>{v1::EVENT_TYPE_REAPPEARED, v1::EVENT_TYPE_REAPPEARED}));

  auto host = store_->GetHost("h1", 3);
  ASSERT_TRUE(host.ok());
  ASSERT_EQ(host->history_size(), 3);  // newest first, limited
  EXPECT_EQ(host->history(0).type(), v1::EVENT_TYPE_REAPPEARED);
  EXPECT_EQ(host->history(0).sequence(), 5u);
  EXPECT_GT(host->history(0).id(), host->history(1).id());
}

TEST_P(StoreConformance, MalformedReportsAreRefusedAndStoreNothing) {
  auto bad_verdict = Report(Facts("h1", "web-1"), 1, {}, kStart);
  bad_verdict.report.set_verdict(v1::VERDICT_STALE);
  auto twice = Report(Facts("h1", "web-1"), 1,
                      {Product("kesl", v1::PRODUCT_STATE_RUNNING, "1"), Product("kesl", v1::PRODUCT_STATE_REMNANT, "")},
                      kStart);
  auto no_id = Report(Facts("h1", "web-1"), 1, {Product("", v1::PRODUCT_STATE_RUNNING, "1")}, kStart);
  auto bad_state = Report(Facts("h1", "web-1"), 1, {Product("kesl", v1::PRODUCT_STATE_UNSPECIFIED, "1")}, kStart);
  auto seq0 = Report(Facts("h1", "web-1"), 0, {}, kStart);
  auto no_host = Report(Facts("", "web-1"), 1, {}, kStart);
  auto bad_label = Report(Facts("h1", "web-1", "debian", "12", {"a\nb"}), 1, {}, kStart);
  auto other_host = Report(Facts("h1", "web-1"), 1, {}, kStart);
  other_host.host.set_host_id("h2");
  struct Case {
    ReportIn in;
    std::string expect;
  } cases[] = {{bad_verdict, "verdict"},     {twice, "appears twice"}, {no_id, "product_id is empty"},
               {bad_state, "state"},         {seq0, "sequence"},       {no_host, "host_id is empty"},
               {other_host, "differs from"}, {bad_label, "newline"}};
  for (auto& c : cases) {
    auto out = store_->IngestReport(c.in);
    ASSERT_FALSE(out.ok()) << c.expect;
    EXPECT_EQ(out.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(out.status().message().find(c.expect), std::string::npos) << out.status().message();
  }
  auto summary = store_->GetSummary();
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->total_hosts(), 0);
  auto events = store_->ListEvents({}, 0, "");
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(events->events_size(), 0);
}

TEST_P(StoreConformance, IngestBatchIsAllOrNothing) {
  std::vector<ReportIn> good{Report(Facts("a", "a"), 1, {}, kStart), Report(Facts("b", "b"), 1, {}, kStart)};
  auto ok = store_->IngestBatch(good);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  ASSERT_EQ(ok->size(), 2u);
  EXPECT_EQ((*ok)[1].kind, IngestKind::kStored);
  std::vector<ReportIn> mixed{Report(Facts("c", "c"), 1, {}, kStart), Report(Facts("d", "d"), 0, {}, kStart)};
  auto bad = store_->IngestBatch(mixed);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("batch item 1"), std::string::npos) << bad.status().message();
  EXPECT_FALSE(store_->GetHost("c", 0).ok());
  EXPECT_EQ(store_->GetSummary()->total_hosts(), 2);
}

TEST_P(StoreConformance, SummaryCountsByVerdictProductAndOs) {
  Ingest(Report(Facts("h1", "a", "debian", "12"), 1, {Product("kesl", v1::PRODUCT_STATE_RUNNING, "1")}, kStart));
  Ingest(Report(Facts("h2", "b", "debian", "12"), 1, {Product("kesl", v1::PRODUCT_STATE_INSTALLED, "1")}, kStart));
  Ingest(Report(Facts("h3", "c", "rhel", "9"), 1, {Product("klnagent64", v1::PRODUCT_STATE_INSTALLED, "1")}, kStart));
  Ingest(Report(Facts("h4", "d", "rhel", "9"), 1, {Product("kesl", v1::PRODUCT_STATE_REMNANT, "")}, kStart));
  Ingest(Report(Facts("h5", "e", "ubuntu", "22.04"), 1, {}, kStart));
  // h2 changes its mind: counters follow.
  Ingest(Report(Facts("h2", "b", "debian", "12"), 2, {}, kStart + 1));
  auto s = store_->GetSummary();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->total_hosts(), 5);
  EXPECT_EQ(VerdictCount(*s, "RUNNING"), 1);
  EXPECT_EQ(VerdictCount(*s, "INSTALLED"), 1);
  EXPECT_EQ(VerdictCount(*s, "REMNANT"), 1);
  EXPECT_EQ(VerdictCount(*s, "CLEAN"), 2);
  EXPECT_EQ(VerdictCount(*s, "STALE"), 0);
  EXPECT_EQ(s->affected_hosts(), 2);
  std::map<std::string, int64_t> products;
  for (const auto& c : s->by_product()) products[c.key()] = c.hosts();
  EXPECT_EQ(products, (std::map<std::string, int64_t>{{"kesl", 1}, {"klnagent64", 1}}));
  std::map<std::string, int64_t> os;
  for (const auto& c : s->by_os()) os[c.key()] = c.hosts();
  EXPECT_EQ(os, (std::map<std::string, int64_t>{{"debian 12", 2}, {"rhel 9", 2}, {"ubuntu 22.04", 1}}));
  EXPECT_EQ(TimeUtil::TimestampToMicroseconds(s->as_of()), kStart);
}

class StoreFleet : public StoreConformance {
 protected:
  void SetUp() override {
    StoreConformance::SetUp();
    // 30 hosts: a mix the filters can tell apart.
    for (int i = 0; i < 30; ++i) {
      char name[16];
      std::snprintf(name, sizeof name, "%s-%02d", i % 2 == 0 ? "web" : "db", i);
      std::vector<v1::Finding> f;
      if (i % 3 == 0) f.push_back(Product("kesl", v1::PRODUCT_STATE_RUNNING, i % 6 == 0 ? "12.1" : "11.0"));
      if (i % 5 == 0) f.push_back(Product("klnagent64", v1::PRODUCT_STATE_INSTALLED, "14"));
      std::vector<std::string> labels;
      if (i % 4 == 0) labels.push_back("prod");
      const auto facts = Facts("id" + std::to_string(i), name, i % 2 == 0 ? "debian" : "rhel",
                               i % 2 == 0 ? (i % 4 == 0 ? "12" : "11") : "9", labels);
      Ingest(Report(facts, 1, f, kStart + i * kMicrosPerSecond));
    }
  }
};

TEST_P(StoreFleet, FiltersSelectExactlyTheMatchingHosts) {
  HostQuery running;
  running.verdict_sets = {{v1::VERDICT_RUNNING}};
  auto r = List(running);
  EXPECT_EQ(r.total_size(), 10);  // i % 3 == 0
  for (const auto& h : r.hosts()) EXPECT_EQ(h.verdict(), v1::VERDICT_RUNNING);

  HostQuery kesl12;
  kesl12.products = {{"kesl", "12.1"}};
  EXPECT_EQ(Hostnames(kesl12), (std::vector<std::string>{"web-00", "web-06", "web-12", "web-18", "web-24"}));
  EXPECT_EQ(List(kesl12).total_size(), 5);

  HostQuery any14;
  any14.products = {{"", "14"}};
  EXPECT_EQ(List(any14).total_size(), 6);

  HostQuery deb12;
  deb12.os = {{"debian", "12"}};
  EXPECT_EQ(List(deb12).total_size(), 8);  // i % 4 == 0
  HostQuery deb;
  deb.os = {{"debian", ""}};
  EXPECT_EQ(List(deb).total_size(), 15);

  HostQuery glob;
  glob.hostname_globs = {"db-1*"};
  EXPECT_EQ(Hostnames(glob), (std::vector<std::string>{"db-11", "db-13", "db-15", "db-17", "db-19"}));

  HostQuery prod;
  prod.labels = {"prod"};
  EXPECT_EQ(List(prod).total_size(), 8);

  HostQuery combined;  // running or installed, debian, labelled prod: i % 4 == 0 and (i % 3 == 0 or i % 5 == 0)
  combined.verdict_sets = {{v1::VERDICT_RUNNING, v1::VERDICT_INSTALLED}};
  combined.os = {{"debian", ""}};
  combined.labels = {"prod"};
  EXPECT_EQ(Hostnames(combined), (std::vector<std::string>{"web-00", "web-12", "web-20", "web-24"}));

  HostQuery seen;
  seen.seen_after = kStart + 10 * kMicrosPerSecond;
  seen.seen_before = kStart + 13 * kMicrosPerSecond;
  EXPECT_EQ(Hostnames(seen), (std::vector<std::string>{"db-11", "web-10", "web-12"}));

  auto ids = store_->SelectHostIds(combined, 2);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<std::string>{"id0", "id12"}));
}

TEST_P(StoreFleet, OrderingsAreStable) {
  auto by_name = Hostnames({});
  ASSERT_EQ(by_name.size(), 30u);
  EXPECT_TRUE(std::is_sorted(by_name.begin(), by_name.end()));
  auto by_seen = List({}, v1::HOST_ORDER_LAST_SEEN);
  EXPECT_EQ(by_seen.hosts(0).hostname(), "db-29");
  EXPECT_EQ(by_seen.hosts(29).hostname(), "web-00");
  auto by_verdict = List({}, v1::HOST_ORDER_VERDICT);
  int last_rank = 100;
  for (const auto& h : by_verdict.hosts()) {
    const int rank = h.verdict() == v1::VERDICT_RUNNING ? 3 : h.verdict() == v1::VERDICT_INSTALLED ? 2 : 1;
    EXPECT_LE(rank, last_rank) << h.hostname();
    last_rank = rank;
  }
  EXPECT_EQ(by_verdict.hosts(0).hostname(), "db-03");
}

TEST_P(StoreFleet, PagesCoverEveryHostOnceInEveryOrder) {
  for (auto order : {v1::HOST_ORDER_HOSTNAME, v1::HOST_ORDER_LAST_SEEN, v1::HOST_ORDER_VERDICT}) {
    std::vector<std::string> all;
    std::string token;
    int pages = 0;
    do {
      auto page = List({}, order, 7, token);
      EXPECT_EQ(page.total_size(), 30);
      for (const auto& h : page.hosts()) all.push_back(h.host_id());
      token = page.next_page_token();
      ASSERT_LT(++pages, 10);
    } while (!token.empty());
    EXPECT_EQ(pages, 5) << order;
    EXPECT_EQ(all.size(), 30u);
    EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), 30u);
    EXPECT_EQ(all, [&] {
      std::vector<std::string> one;
      const auto page = List({}, order, 100);
      for (const auto& h : page.hosts()) one.push_back(h.host_id());
      return one;
    }());
  }
}

TEST_P(StoreFleet, ForgedOrForeignPageTokensAreInvalidArgument) {
  HostQuery running;
  running.verdict_sets = {{v1::VERDICT_RUNNING}};
  auto first = List(running, v1::HOST_ORDER_HOSTNAME, 3);
  const std::string token = first.next_page_token();
  ASSERT_FALSE(token.empty());
  // The same token with the same query works.
  EXPECT_EQ(List(running, v1::HOST_ORDER_HOSTNAME, 3, token).hosts_size(), 3);

  auto expect_invalid = [&](const HostQuery& q, v1::HostOrder order, const std::string& t) {
    auto r = store_->ListHosts(q, order, 3, t);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find("page_token"), std::string::npos) << r.status().message();
  };
  expect_invalid(HostQuery{}, v1::HOST_ORDER_HOSTNAME, token);     // another query
  expect_invalid(running, v1::HOST_ORDER_LAST_SEEN, token);        // another order
  expect_invalid(running, v1::HOST_ORDER_HOSTNAME, "not-a-token");  // forged
  std::string flipped = token;
  flipped[flipped.size() / 2] = flipped[flipped.size() / 2] == 'A' ? 'B' : 'A';
  expect_invalid(running, v1::HOST_ORDER_HOSTNAME, flipped);  // damaged

  auto too_big = store_->ListHosts(running, v1::HOST_ORDER_HOSTNAME, 1001, "");
  ASSERT_FALSE(too_big.ok());
  EXPECT_NE(too_big.status().message().find("page_size 1001"), std::string::npos);

  // Event page tokens are bound the same way.
  EventQuery all_events;
  auto events = store_->ListEvents(all_events, 2, "");
  ASSERT_TRUE(events.ok());
  ASSERT_FALSE(events->next_page_token().empty());
  EventQuery other;
  other.types = {v1::EVENT_TYPE_REMOVED};
  auto foreign = store_->ListEvents(other, 2, events->next_page_token());
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.status().code(), Status::Code::kInvalidArgument);
}

TEST_P(StoreFleet, PageTokensSurviveARestart) {
  auto first = List({}, v1::HOST_ORDER_HOSTNAME, 10);
  Reopen();
  auto second = List({}, v1::HOST_ORDER_HOSTNAME, 10, first.next_page_token());
  ASSERT_EQ(second.hosts_size(), 10);
  EXPECT_GT(second.hosts(0).hostname(), first.hosts(9).hostname());
}

TEST_P(StoreFleet, ListEventsFiltersAndPages) {
  // 10 kesl + 6 klnagent64 DETECTED events.
  std::vector<int64_t> ids;
  std::string token;
  do {
    auto page = store_->ListEvents({}, 5, token);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (const auto& e : page->events()) ids.push_back(e.id());
    token = page->next_page_token();
  } while (!token.empty());
  EXPECT_EQ(ids.size(), 16u);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));

  EventQuery by_host;
  by_host.host = "web-00";  // hostname resolves to its id
  auto h = store_->ListEvents(by_host, 0, "");
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->events_size(), 2);
  EXPECT_EQ(h->events(0).host_id(), "id0");

  Ingest(Report(Facts("id0", "web-00", "debian", "12", {"prod"}), 2, {}, kStart + kHour));
  EventQuery removed;
  removed.types = {v1::EVENT_TYPE_REMOVED};
  auto r = store_->ListEvents(removed, 0, "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->events_size(), 2);
  EventQuery since;
  since.since = kStart + kHour;
  EXPECT_EQ(store_->ListEvents(since, 0, "")->events_size(), 2);
  EventQuery after;
  after.after_id = ids.back();
  EXPECT_EQ(store_->ListEvents(after, 0, "")->events_size(), 2);
}

TEST_P(StoreConformance, AcksRunAfterCommitAndEventsArePublished) {
  std::atomic<int> seen_committed{0};
  std::atomic<int> done{0};
  constexpr int kReports = 50;
  for (int i = 1; i <= kReports; ++i) {
    store_->SubmitReport(Report(Facts("h1", "web-1"), static_cast<uint64_t>(i),
                                {Product("kesl", v1::PRODUCT_STATE_RUNNING, std::to_string(i))}, kStart + i),
                         [&, i](Result<IngestOutcome> r) {
                           ASSERT_TRUE(r.ok()) << r.status().ToString();
                           // A reader on another connection must already see it: the ack follows the commit.
                           auto stored = store_->LastSequence("h1");
                           if (stored.ok() && *stored >= static_cast<uint64_t>(i)) seen_committed++;
                           done++;
                         });
  }
  // Close drains the writer: every callback has run when it returns.
  ASSERT_TRUE(store_->Close().ok());
  EXPECT_EQ(done.load(), kReports);
  EXPECT_EQ(seen_committed.load(), kReports);
  auto events = sink_.events();
  ASSERT_EQ(events.size(), static_cast<size_t>(kReports));  // DETECTED + 49 VERSION_CHANGED
  EXPECT_EQ(events[0].type(), v1::EVENT_TYPE_DETECTED);
  EXPECT_EQ(events[1].type(), v1::EVENT_TYPE_VERSION_CHANGED);
  for (size_t i = 1; i < events.size(); ++i) EXPECT_GT(events[i].id(), events[i - 1].id());
  // Writes after Close fail cleanly.
  auto late = store_->IngestReport(Report(Facts("h2", "x"), 1, {}, kStart));
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), Status::Code::kUnavailable);
}

TEST_P(StoreConformance, StaleSweepAndComingBack) {
  setup_.stale_after = 2 * kHour;
  Reopen();
  Ingest(Report(Facts("h1", "a"), 1, {Product("kesl", v1::PRODUCT_STATE_RUNNING, "1")}, kStart));
  Ingest(Report(Facts("h2", "b"), 1, {}, kStart + 2 * kHour));
  // Nothing stale yet.
  auto none = store_->SweepStale(kStart + 2 * kHour);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto went = store_->SweepStale(kStart + 2 * kHour + 1);
  ASSERT_TRUE(went.ok()) << went.status().ToString();
  ASSERT_EQ(Types(*went), std::vector<v1::EventType>{v1::EVENT_TYPE_WENT_STALE});
  EXPECT_EQ((*went)[0].host_id(), "h1");
  EXPECT_EQ((*went)[0].sequence(), 0u);
  // A second sweep does not repeat it.
  EXPECT_TRUE(store_->SweepStale(kStart + 2 * kHour + 2)->empty());
  auto s = store_->GetSummary();
  EXPECT_EQ(s->stale_hosts(), 1);
  EXPECT_EQ(VerdictCount(*s, "RUNNING"), 0);
  EXPECT_EQ(s->affected_hosts(), 0);
  EXPECT_EQ(s->total_hosts(), 2);
  HostQuery stale;
  stale.verdict_sets = {{v1::VERDICT_STALE}};
  EXPECT_EQ(Hostnames(stale), std::vector<std::string>{"a"});

  // A heartbeat brings it back to its last reported verdict.
  auto back = store_->Contact("h1", kStart + 3 * kHour);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->last_sequence, 1u);
  ASSERT_EQ(Types(back->events), std::vector<v1::EventType>{v1::EVENT_TYPE_CAME_BACK});
  EXPECT_EQ(store_->GetHost("h1", 0)->summary().verdict(), v1::VERDICT_RUNNING);
  EXPECT_EQ(VerdictCount(*store_->GetSummary(), "RUNNING"), 1);

  // Stale again, then a report: CAME_BACK before the product events.
  ASSERT_EQ(store_->SweepStale(kStart + 6 * kHour)->size(), 2u);
  auto report = Ingest(Report(Facts("h1", "a"), 2, {}, kStart + 7 * kHour));
  EXPECT_EQ(Types(report.events), (std::vector<v1::EventType>{v1::EVENT_TYPE_CAME_BACK, v1::EVENT_TYPE_REMOVED}));
  auto contact_unknown = store_->Contact("never-reported", kStart);
  ASSERT_TRUE(contact_unknown.ok());
  EXPECT_EQ(contact_unknown->last_sequence, 0u);
}

TEST_P(StoreConformance, EphemeralHostsExpireIntoHistoryOnly) {
  setup_.stale_after = 1 * kHour;
  setup_.expire_after = 3 * kHour;
  Reopen();
  Ingest(Report(Facts("e1", "ci-runner", "debian", "12", {"ephemeral"}), 1,
                {Product("kesl", v1::PRODUCT_STATE_INSTALLED, "1")}, kStart));
  Ingest(Report(Facts("p1", "pet", "debian", "12"), 1, {Product("kesl", v1::PRODUCT_STATE_INSTALLED, "1")}, kStart));
  ASSERT_TRUE(store_->SweepStale(kStart + 2 * kHour).ok());
  EXPECT_EQ(store_->GetSummary()->total_hosts(), 2);
  ASSERT_TRUE(store_->SweepStale(kStart + 4 * kHour).ok());
  auto s = store_->GetSummary();
  EXPECT_EQ(s->total_hosts(), 1);
  EXPECT_EQ(s->stale_hosts(), 1);
  ASSERT_EQ(s->by_product_size(), 1);
  EXPECT_EQ(s->by_product(0).hosts(), 1);
  EXPECT_EQ(store_->GetHost("ci-runner", 0).status().code(), Status::Code::kNotFound);
  EventQuery q;
  q.host = "e1";
  auto history = store_->ListEvents(q, 0, "");
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(Types(history->events()),
            (std::vector<v1::EventType>{v1::EVENT_TYPE_DETECTED, v1::EVENT_TYPE_WENT_STALE}));
}

TEST_P(StoreConformance, TrendIsEndOfDayStatePerDay) {
  clock_.Set(kStart + 3 * kDay);
  // Day 0: a installed. Day 1: b running, c clean. Day 2: a removed (clean). Day 3: b goes stale.
  Ingest(Report(Facts("a", "a"), 1, {Product("kesl", v1::PRODUCT_STATE_INSTALLED, "1")}, kStart));
  Ingest(Report(Facts("b", "b"), 1, {Product("kesl", v1::PRODUCT_STATE_RUNNING, "1")}, kStart + kDay));
  Ingest(Report(Facts("c", "c"), 1, {}, kStart + kDay));
  Ingest(Report(Facts("a", "a"), 2, {}, kStart + 2 * kDay));
  Ingest(Report(Facts("a", "a"), 3, {}, kStart + 3 * kDay));
  Ingest(Report(Facts("c", "c"), 2, {}, kStart + 3 * kDay));
  ASSERT_EQ(store_->SweepStale(kStart + 3 * kDay)->size(), 1u);
  auto trend = store_->GetTrend(5);
  ASSERT_TRUE(trend.ok()) << trend.status().ToString();
  ASSERT_EQ(trend->points_size(), 5);
  struct P {
    const char* date;
    int64_t affected, running, installed, clean;
  } want[] = {{"2025-12-31", 0, 0, 0, 0},
              {"2026-01-01", 1, 0, 1, 0},
              {"2026-01-02", 2, 1, 1, 1},
              {"2026-01-03", 1, 1, 0, 2},
              {"2026-01-04", 0, 0, 0, 2}};
  for (int i = 0; i < 5; ++i) {
    const auto& p = trend->points(i);
    EXPECT_EQ(p.date(), want[i].date);
    EXPECT_EQ(p.affected_hosts(), want[i].affected) << p.date();
    EXPECT_EQ(p.running(), want[i].running) << p.date();
    EXPECT_EQ(p.installed(), want[i].installed) << p.date();
    EXPECT_EQ(p.clean(), want[i].clean) << p.date();
  }
  EXPECT_EQ(store_->GetTrend(0)->points_size(), 30);
  EXPECT_EQ(store_->GetTrend(4000).status().code(), Status::Code::kInvalidArgument);
}

TEST_P(StoreConformance, RestartKeepsEverything) {
  Ingest(Report(Facts("h1", "a"), 7, {Product("kesl", v1::PRODUCT_STATE_RUNNING, "1")}, kStart));
  const auto before = store_->GetHost("h1", 0)->SerializeAsString();
  Reopen();
  EXPECT_EQ(store_->GetHost("h1", 0)->SerializeAsString(), before);
  EXPECT_EQ(*store_->LastSequence("h1"), 7u);
  EXPECT_EQ(Ingest(Report(Facts("h1", "a"), 7, {}, kStart)).kind, IngestKind::kDuplicate);
  EXPECT_EQ(store_->GetSummary()->affected_hosts(), 1);
}

TEST_P(StoreConformance, ReadersRunWhileTheWriterWrites) {
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      while (!stop) {
        if (!store_->GetSummary().ok() || !store_->ListHosts({}, v1::HOST_ORDER_HOSTNAME, 10, "").ok()) failures++;
        reads++;
      }
    });
  }
  for (int i = 0; i < 200; ++i) {
    Ingest(Report(Facts("h" + std::to_string(i), "n" + std::to_string(i)), 1, {}, kStart));
  }
  while (reads.load() < 30) std::this_thread::yield();
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(store_->GetSummary()->total_hosts(), 200);
}

// The store touches only the host row when its columns did not change (the light update); what readers see must
// still be the latest report: its evidence, sequence, times and product versions.
TEST_P(StoreConformance, RepeatedReportsKeepTheLatestDocumentAndTimes) {
  const auto facts = Facts("h1", "web-1");
  Micros t = kStart;
  Ingest(Report(facts, 1, {Product("kesl", v1::PRODUCT_STATE_RUNNING, "12.1.0")}, t));
  // Same products, other evidence: no event, but GetHost shows the new evidence.
  auto moved = Product("kesl", v1::PRODUCT_STATE_RUNNING, "12.1.0");
  moved.mutable_evidence(0)->set_detail("process kesl pid 4242");
  EXPECT_TRUE(Ingest(Report(facts, 2, {moved}, t += kHour)).events.empty());
  auto host = store_->GetHost("h1", 0);
  ASSERT_TRUE(host.ok());
  ASSERT_EQ(host->findings_size(), 1);
  EXPECT_EQ(host->findings(0).evidence(0).detail(), "process kesl pid 4242");
  // The very same report again: only sequence and times move.
  auto same = Report(facts, 3, {moved}, t += kHour);
  same.report.mutable_scanned_at()->set_seconds(t / kMicrosPerSecond);
  EXPECT_TRUE(Ingest(std::move(same)).events.empty());
  host = store_->GetHost("h1", 0);
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(host->summary().last_sequence(), 3u);
  EXPECT_EQ(TimeUtil::TimestampToMicroseconds(host->summary().last_seen()), t);
  EXPECT_EQ(host->findings(0).evidence(0).detail(), "process kesl pid 4242");
  // A version change after repeats is still seen against the stored products, then stays put.
  auto e4 = Ingest(Report(facts, 4, {Product("kesl", v1::PRODUCT_STATE_RUNNING, "12.2.0")}, t += kHour)).events;
  ASSERT_EQ(Types(e4), std::vector<v1::EventType>{v1::EVENT_TYPE_VERSION_CHANGED});
  EXPECT_EQ(e4[0].old_version(), "12.1.0");
  EXPECT_TRUE(Ingest(Report(facts, 5, {Product("kesl", v1::PRODUCT_STATE_RUNNING, "12.2.0")}, t += kHour)).events.empty());
  HostQuery old_version;
  old_version.products = {{"kesl", "12.1.0"}};
  EXPECT_TRUE(List(old_version).hosts().empty());
  HostQuery new_version;
  new_version.products = {{"kesl", "12.2.0"}};
  EXPECT_EQ(List(new_version).hosts_size(), 1);
  host = store_->GetHost("h1", 0);
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(host->findings(0).version(), "12.2.0");
  EXPECT_EQ(host->summary().last_sequence(), 5u);
}

const Backend kBackends[] = {{"sqlite", MakeSqlite}};

std::string BackendName(const ::testing::TestParamInfo<Backend>& param) { return param.param.name; }

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformance, ::testing::ValuesIn(kBackends), BackendName);
INSTANTIATE_TEST_SUITE_P(Backends, StoreFleet, ::testing::ValuesIn(kBackends), BackendName);

}  // namespace
}  // namespace ksweep::server
