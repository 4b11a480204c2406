// Store conformance suite: written against server/store/store.h only, so every backend (SQLite now, PostgreSQL
// later) runs the same tests. Real databases in temp folders; time is a ManualClock.
#include <gtest/gtest.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>
#include <variant>

#include "common/platform.h"
#include "server/clock.h"
#include "server/store/history.h"
#include "server/store/sqlite_schema.h"
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

v1::HostFacts OnPlatform(v1::HostFacts facts, v1::Platform platform) {
  facts.set_platform(platform);
  return facts;
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

// key -> "label hosts", so one comparison checks both.
std::map<std::string, std::string> PlatformCounts(const v1::Summary& s) {
  std::map<std::string, std::string> out;
  for (const auto& c : s.by_platform()) out[c.key()] = c.label() + " " + std::to_string(c.hosts());
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
    // Parameterised test names end in "/backend": one folder, not a folder in a folder that TearDown leaves behind.
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(name.begin(), name.end(), '/', '-');
    dir_ = fs::temp_directory_path() / ("ksweep-store-" + std::to_string(::getpid()) + "-" + name);
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

TEST_P(StoreConformance, PlatformIsStoredCountedAndShown) {
  Ingest(Report(OnPlatform(Facts("l1", "lin-1"), v1::PLATFORM_LINUX), 1,
                {Product("kesl", v1::PRODUCT_STATE_RUNNING, "12.1")}, kStart));
  Ingest(Report(Facts("l2", "lin-2"), 1, {}, kStart));  // an agent from before platforms: PLATFORM_UNSPECIFIED
  Ingest(Report(OnPlatform(Facts("w1", "win-1", "windows", "10.0"), v1::PLATFORM_WINDOWS), 1,
                {Product("kes", v1::PRODUCT_STATE_INSTALLED, "11.11.0.452")}, kStart));
  Ingest(Report(OnPlatform(Facts("w2", "win-2", "windows", "10.0"), v1::PLATFORM_WINDOWS), 1, {}, kStart));
  Ingest(Report(OnPlatform(Facts("m1", "mac-1", "macos", "14.4"), v1::PLATFORM_MACOS), 1, {}, kStart));
  auto s = store_->GetSummary();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(PlatformCounts(*s), (std::map<std::string, std::string>{
                                    {"linux", "Linux 2"}, {"windows", "Windows 2"}, {"macos", "macOS 1"}}));
  ASSERT_EQ(s->by_platform_size(), 3);
  EXPECT_EQ(s->by_platform(2).key(), "macos") << "most hosts first";

  std::map<std::string, v1::Platform> listed;
  const auto all = List({});
  for (const auto& h : all.hosts()) listed[h.hostname()] = h.platform();
  EXPECT_EQ(listed, (std::map<std::string, v1::Platform>{{"lin-1", v1::PLATFORM_LINUX},
                                                         {"lin-2", v1::PLATFORM_LINUX},
                                                         {"mac-1", v1::PLATFORM_MACOS},
                                                         {"win-1", v1::PLATFORM_WINDOWS},
                                                         {"win-2", v1::PLATFORM_WINDOWS}}));
  auto win = store_->GetHost("win-1", 0);
  ASSERT_TRUE(win.ok()) << win.status().ToString();
  EXPECT_EQ(win->summary().platform(), v1::PLATFORM_WINDOWS);
  EXPECT_EQ(win->facts().platform(), v1::PLATFORM_WINDOWS);
  auto old_agent = store_->GetHost("lin-2", 0);
  ASSERT_TRUE(old_agent.ok());
  EXPECT_EQ(old_agent->summary().platform(), v1::PLATFORM_LINUX);
  EXPECT_EQ(old_agent->facts().platform(), v1::PLATFORM_UNSPECIFIED) << "the facts stay as the agent sent them";

  // The same machine id now reporting another platform (a reinstall): the counters move, nothing counted twice.
  Ingest(Report(OnPlatform(Facts("l1", "lin-1"), v1::PLATFORM_WINDOWS), 2, {}, kStart + kHour));
  // Reports that change nothing (the light update) and an old agent's UNSPECIFIED after an explicit LINUX.
  Ingest(Report(OnPlatform(Facts("l1", "lin-1"), v1::PLATFORM_WINDOWS), 3, {}, kStart + 2 * kHour));
  Ingest(Report(Facts("l2", "lin-2"), 2, {}, kStart + kHour));
  Ingest(Report(OnPlatform(Facts("l2", "lin-2"), v1::PLATFORM_LINUX), 3, {}, kStart + 2 * kHour));
  EXPECT_EQ(PlatformCounts(*store_->GetSummary()),
            (std::map<std::string, std::string>{{"linux", "Linux 1"}, {"windows", "Windows 3"}, {"macos", "macOS 1"}}));
  EXPECT_EQ(store_->GetHost("lin-1", 0)->summary().platform(), v1::PLATFORM_WINDOWS);
  HostQuery windows;
  windows.platform_sets = {{v1::PLATFORM_WINDOWS}};
  EXPECT_EQ(Hostnames(windows), (std::vector<std::string>{"lin-1", "win-1", "win-2"}));
  EXPECT_EQ(List(windows).total_size(), 3);

  Reopen();
  EXPECT_EQ(PlatformCounts(*store_->GetSummary()),
            (std::map<std::string, std::string>{{"linux", "Linux 1"}, {"windows", "Windows 3"}, {"macos", "macOS 1"}}));
}

// HostReport.incomplete (a probe failed) is part of the host's current state: listed, and GetHost names the probes.
TEST_P(StoreConformance, IncompleteScanIsShownWithItsFailedProbes) {
  const auto facts = OnPlatform(Facts("w1", "win-1", "windows", "10.0"), v1::PLATFORM_WINDOWS);
  auto scan = [&](uint64_t seq, bool failed) {
    auto r = Report(facts, seq, {}, kStart + static_cast<Micros>(seq) * kHour);
    auto* ok = r.report.add_probes();
    ok->set_name("windows_services");
    ok->set_state(v1::PROBE_STATE_OK);
    auto* p = r.report.add_probes();
    p->set_name("installed_programs");
    p->set_state(failed ? v1::PROBE_STATE_FAILED : v1::PROBE_STATE_OK);
    if (failed) p->set_message("hive 'Windows/System32/config/SOFTWARE': truncated at offset 4096");
    r.report.set_incomplete(failed);
    return r;
  };
  Ingest(scan(1, true));
  auto host = store_->GetHost("win-1", 0);
  ASSERT_TRUE(host.ok()) << host.status().ToString();
  EXPECT_TRUE(host->summary().incomplete());
  ASSERT_EQ(host->failed_probes_size(), 1);
  EXPECT_EQ(host->failed_probes(0).name(), "installed_programs");
  EXPECT_EQ(host->failed_probes(0).message(), "hive 'Windows/System32/config/SOFTWARE': truncated at offset 4096");
  EXPECT_TRUE(List({}).hosts(0).incomplete());
  // Nothing else changes between these reports: the flag alone must still reach the host row.
  Ingest(scan(2, false));
  host = store_->GetHost("win-1", 0);
  EXPECT_FALSE(host->summary().incomplete());
  EXPECT_EQ(host->failed_probes_size(), 0);
  EXPECT_FALSE(List({}).hosts(0).incomplete());
  Ingest(scan(3, true));
  EXPECT_TRUE(List({}).hosts(0).incomplete());
  EXPECT_TRUE(store_->GetHost("w1", 0)->summary().incomplete());
}

// More matches than the store sorts in memory: pages walk an ordering index and test the platform from it.
TEST_P(StoreConformance, PlatformFilterOverALargeFleetPagesEveryMatchOnce) {
  constexpr int kHosts = 2600;  // 2,080 Windows (more than the sort limit), 520 Linux
  std::vector<ReportIn> batch;
  for (int i = 0; i < kHosts; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "h-%04d", i);
    const v1::Platform p = i % 5 == 0 ? v1::PLATFORM_LINUX : v1::PLATFORM_WINDOWS;
    std::vector<v1::Finding> f;
    if (i % 13 == 0) f.push_back(Product("kes", v1::PRODUCT_STATE_INSTALLED, "11"));
    batch.push_back(Report(OnPlatform(Facts("id" + std::to_string(i), name), p), 1, f,
                           kStart + static_cast<Micros>(i) * kMicrosPerSecond));
  }
  ASSERT_TRUE(store_->IngestBatch(std::move(batch)).ok());
  for (auto platform : {v1::PLATFORM_WINDOWS, v1::PLATFORM_LINUX}) {
    HostQuery q;
    q.platform_sets = {{platform}};
    const int64_t want = platform == v1::PLATFORM_WINDOWS ? 2080 : 520;
    for (auto order : {v1::HOST_ORDER_HOSTNAME, v1::HOST_ORDER_LAST_SEEN, v1::HOST_ORDER_VERDICT}) {
      std::set<std::string> seen;
      std::string token;
      int pages = 0;
      do {
        auto page = List(q, order, 1000, token);
        EXPECT_EQ(page.total_size(), want);
        for (const auto& h : page.hosts()) {
          EXPECT_EQ(h.platform(), platform) << h.hostname();
          EXPECT_TRUE(seen.insert(h.host_id()).second) << "twice: " << h.hostname();
        }
        token = page.next_page_token();
        ASSERT_LT(++pages, 10);
      } while (!token.empty());
      EXPECT_EQ(static_cast<int64_t>(seen.size()), want) << platform << " " << order;
    }
  }
  HostQuery installed_linux;  // i % 5 == 0 and i % 13 == 0: 0, 65, ..., 2535
  installed_linux.platform_sets = {{v1::PLATFORM_LINUX}};
  installed_linux.verdict_sets = {{v1::VERDICT_INSTALLED}};
  EXPECT_EQ(List(installed_linux).total_size(), 40);
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
      auto facts = Facts("id" + std::to_string(i), name, i % 2 == 0 ? "debian" : "rhel",
                         i % 2 == 0 ? (i % 4 == 0 ? "12" : "11") : "9", labels);
      // Windows: i % 5 == 1; macOS: i % 7 == 3; Linux the rest, half of them from agents that predate platforms.
      facts.set_platform(i % 5 == 1   ? v1::PLATFORM_WINDOWS
                         : i % 7 == 3 ? v1::PLATFORM_MACOS
                         : i % 2 == 0 ? v1::PLATFORM_LINUX
                                      : v1::PLATFORM_UNSPECIFIED);
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

  HostQuery windows;
  windows.platform_sets = {{v1::PLATFORM_WINDOWS}};
  EXPECT_EQ(Hostnames(windows), (std::vector<std::string>{"db-01", "db-11", "db-21", "web-06", "web-16", "web-26"}));
  const auto windows_page = List(windows);
  EXPECT_EQ(windows_page.total_size(), 6);
  for (const auto& h : windows_page.hosts()) EXPECT_EQ(h.platform(), v1::PLATFORM_WINDOWS) << h.hostname();
  HostQuery on_linux;
  on_linux.platform_sets = {{v1::PLATFORM_LINUX}};
  const auto linux_page = List(on_linux);
  EXPECT_EQ(linux_page.total_size(), 20) << "agents that predate platforms count as Linux";
  for (const auto& h : linux_page.hosts()) EXPECT_EQ(h.platform(), v1::PLATFORM_LINUX) << h.hostname();
  HostQuery running_windows;  // i % 5 == 1 and i % 3 == 0
  running_windows.platform_sets = {{v1::PLATFORM_WINDOWS}};
  running_windows.verdict_sets = {{v1::VERDICT_RUNNING}};
  EXPECT_EQ(Hostnames(running_windows), (std::vector<std::string>{"db-21", "web-06"}));
  EXPECT_EQ(List(running_windows).total_size(), 2);
  HostQuery not_linux_prod;  // (i % 5 == 1 or i % 7 == 3) and i % 4 == 0
  not_linux_prod.platform_sets = {{v1::PLATFORM_WINDOWS, v1::PLATFORM_MACOS}};
  not_linux_prod.labels = {"prod"};
  EXPECT_EQ(Hostnames(not_linux_prod), (std::vector<std::string>{"web-16", "web-24"}));
  HostQuery two_sets;  // each set is any-of, the sets are ANDed
  two_sets.platform_sets = {{v1::PLATFORM_WINDOWS, v1::PLATFORM_MACOS}, {v1::PLATFORM_MACOS, v1::PLATFORM_LINUX}};
  EXPECT_EQ(Hostnames(two_sets), (std::vector<std::string>{"db-03", "db-17", "web-10", "web-24"}));
  auto mac_ids = store_->SelectHostIds(two_sets, 10);
  ASSERT_TRUE(mac_ids.ok());
  EXPECT_EQ(*mac_ids, (std::vector<std::string>{"id3", "id17", "id10", "id24"}));
  auto by_verdict = List(windows, v1::HOST_ORDER_VERDICT);
  ASSERT_EQ(by_verdict.hosts_size(), 6);
  EXPECT_EQ(by_verdict.hosts(0).hostname(), "db-21");  // RUNNING first, then by name
  EXPECT_EQ(by_verdict.hosts(1).hostname(), "web-06");
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
  Ingest(Report(OnPlatform(Facts("e1", "ci-runner", "windows", "10.0", {"ephemeral"}), v1::PLATFORM_WINDOWS), 1,
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
  EXPECT_EQ(PlatformCounts(*s), (std::map<std::string, std::string>{{"linux", "Linux 1"}}));
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

// ---- SQLite: a database made by an older collector ----

// Runs `sql` with `params` bound in order (integers or text), then `blobs`.
void Insert(sqlite::Db& db, const std::string& sql, const std::vector<std::variant<int64_t, std::string>>& params,
            const std::vector<std::string>& blobs = {}) {
  auto stmt = sqlite::Stmt::Prepare(db, sql);
  ASSERT_TRUE(stmt.ok()) << stmt.status().ToString();
  int n = 1;
  for (const auto& p : params) {
    if (std::holds_alternative<int64_t>(p)) {
      stmt->Bind(n++, std::get<int64_t>(p));
    } else {
      stmt->Bind(n++, std::string_view(std::get<std::string>(p)));
    }
  }
  for (const auto& b : blobs) stmt->BindBlob(n++, b);
  ASSERT_TRUE(stmt->Run().ok()) << sql;
}

int64_t UserVersion(const std::string& path) {
  auto db = sqlite::Db::Open(path, false);
  EXPECT_TRUE(db.ok());
  if (!db.ok()) return -1;
  auto q = sqlite::Stmt::Prepare(**db, "PRAGMA user_version");
  EXPECT_TRUE(q.ok());
  if (!q.ok()) return -1;
  (void)q->Step();
  return q->Int(0);
}

// The rows the schema 1 collector wrote for one host (sqlite_store.cc at schema 1: hosts, host_docs,
// host_products, host_labels, product_seen, events, verdict_log; the counters are written by the caller).
void StoreSchema1Host(sqlite::Db& db, int64_t id, const ReportIn& in) {
  const auto& f = in.report.host();
  const v1::Verdict verdict = in.report.verdict();
  std::string products;
  for (const auto& finding : in.report.findings()) products += (products.empty() ? "" : " ") + finding.product_id();
  std::string labels;
  for (const auto& l : f.labels()) labels += (labels.empty() ? "" : "\n") + l;
  Insert(db,
         "INSERT INTO hosts(id, host_id, hostname, os_id, os_version, os_name, os_pretty, verdict, reported_verdict, "
         "verdict_order, products, labels, first_seen, last_seen, last_report, last_sequence, agent_version) "
         "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
         {id, f.host_id(), f.hostname(), f.os().id(), f.os().version_id(), f.os().name(), f.os().pretty_name(),
          int64_t{verdict}, int64_t{verdict}, int64_t{10 - VerdictRank(verdict)}, products, labels, in.receive_time,
          in.receive_time, in.receive_time, static_cast<int64_t>(in.sequence), in.report.agent_version()});
  Insert(db, "INSERT INTO host_docs(host, facts, report) VALUES(?,?,?)", {id},
         {f.SerializeAsString(), in.report.SerializeAsString()});
  for (const auto& finding : in.report.findings()) {
    Insert(db, "INSERT INTO host_products(host, product_id, state, version, name) VALUES(?,?,?,?,?)",
           {id, finding.product_id(), int64_t{finding.state()}, finding.version(), finding.product_name()});
    Insert(db, "INSERT INTO product_seen(host, product_id) VALUES(?,?)", {id, finding.product_id()});
    Insert(db,
           "INSERT INTO events(type, host_id, hostname, product_id, old_state, new_state, old_version, new_version, "
           "time, agent_time, sequence) VALUES(?,?,?,?,0,?,'',?,?,?,?)",
           {int64_t{v1::EVENT_TYPE_DETECTED}, f.host_id(), f.hostname(), finding.product_id(),
            int64_t{finding.state()}, finding.version(), in.receive_time, in.agent_time,
            static_cast<int64_t>(in.sequence)});
  }
  for (const auto& l : f.labels()) Insert(db, "INSERT INTO host_labels(host, label) VALUES(?,?)", {id, l});
  Insert(db, "INSERT INTO verdict_log(host_id, time, old_verdict, new_verdict) VALUES(?,?,0,?)",
         {f.host_id(), in.receive_time, int64_t{verdict}});
}

TEST(SqliteStoreUpgrade, Schema1DatabaseKeepsEverythingAndItsHostsAreLinux) {
  const fs::path dir = fs::temp_directory_path() / ("ksweep-store-upgrade-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "ksweep.db").string();
  ManualClock clock{kStart + kDay};
  const auto kesl = Report(Facts("h1", "web-1", "debian", "12", {"prod"}), 7,
                           {Product("kesl", v1::PRODUCT_STATE_INSTALLED, "12.1.0")}, kStart);
  const auto clean = Report(Facts("h2", "web-2", "debian", "12"), 3, {}, kStart + kHour);
  {
    auto db = sqlite::Db::Open(path, true);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    ASSERT_TRUE(sqlite::MigrateTo(**db, 1).ok());
    ASSERT_NO_FATAL_FAILURE(StoreSchema1Host(**db, 1, kesl));
    ASSERT_NO_FATAL_FAILURE(StoreSchema1Host(**db, 2, clean));
    for (const auto& [kind, key, label] : std::vector<std::tuple<int64_t, std::string, std::string>>{
             {0, "INSTALLED", ""}, {0, "CLEAN", ""}, {1, "kesl", "Kaspersky kesl"}, {2, "debian 12", "debian 12"},
             {2, "debian 12", ""}, {3, "prod", ""}, {4, "kesl", ""}}) {
      Insert(**db,
             "INSERT INTO counters(kind, key, label, hosts) VALUES(?,?,?,1) ON CONFLICT(kind, key) DO UPDATE SET "
             "hosts = hosts + 1",
             {kind, key, label});
    }
  }
  ASSERT_EQ(UserVersion(path), 1);

  SqliteStoreOptions o;
  o.path = path;
  o.clock = &clock;
  auto opened = SqliteStore::Open(o);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  StorePtr store = std::move(*opened);
  EXPECT_EQ(UserVersion(path), sqlite::kSchemaVersion);

  auto s = store->GetSummary();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->total_hosts(), 2);
  EXPECT_EQ(s->affected_hosts(), 1);
  EXPECT_EQ(VerdictCount(*s, "CLEAN"), 1);
  ASSERT_EQ(s->by_os_size(), 1);
  EXPECT_EQ(s->by_os(0).hosts(), 2);
  ASSERT_EQ(s->by_product_size(), 1);
  EXPECT_EQ(s->by_product(0).label(), "Kaspersky kesl");
  EXPECT_EQ(PlatformCounts(*s), (std::map<std::string, std::string>{{"linux", "Linux 2"}}));

  auto host = store->GetHost("web-1", 0);
  ASSERT_TRUE(host.ok()) << host.status().ToString();
  EXPECT_EQ(host->summary().platform(), v1::PLATFORM_LINUX);
  EXPECT_FALSE(host->summary().incomplete());
  EXPECT_EQ(host->summary().last_sequence(), 7u);
  EXPECT_EQ(std::vector<std::string>(host->summary().labels().begin(), host->summary().labels().end()),
            std::vector<std::string>{"prod"});
  EXPECT_EQ(host->facts().SerializeAsString(), kesl.report.host().SerializeAsString());
  ASSERT_EQ(host->findings_size(), 1);
  EXPECT_EQ(host->findings(0).evidence(0).detail(), "dpkg package kesl 12.1.0");
  ASSERT_EQ(host->history_size(), 1);
  EXPECT_EQ(host->history(0).type(), v1::EVENT_TYPE_DETECTED);

  auto listed = [&](std::vector<std::vector<v1::Platform>> sets, std::vector<std::vector<v1::Verdict>> verdicts = {}) {
    HostQuery q;
    q.platform_sets = std::move(sets);
    q.verdict_sets = std::move(verdicts);
    auto r = store->ListHosts(q, v1::HOST_ORDER_HOSTNAME, 0, "");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    std::vector<std::string> names;
    if (r.ok()) {
      for (const auto& h : r->hosts()) names.push_back(h.hostname() + "/" + std::string(PlatformName(h.platform())));
    }
    return names;
  };
  EXPECT_EQ(listed({}), (std::vector<std::string>{"web-1/linux", "web-2/linux"}));
  EXPECT_EQ(listed({{v1::PLATFORM_LINUX}}), (std::vector<std::string>{"web-1/linux", "web-2/linux"}));
  EXPECT_EQ(listed({{v1::PLATFORM_WINDOWS, v1::PLATFORM_MACOS}}), std::vector<std::string>{});
  EXPECT_EQ(listed({{v1::PLATFORM_LINUX}}, {{v1::VERDICT_INSTALLED}}), std::vector<std::string>{"web-1/linux"});
  HostQuery prod;
  prod.labels = {"prod"};
  EXPECT_EQ(store->ListHosts(prod, v1::HOST_ORDER_VERDICT, 0, "")->total_size(), 1);

  // The same agents report again, as they were (no platform) and with an upgraded agent: no event, no double count.
  auto again = kesl;
  again.sequence = 8;
  again.receive_time = kStart + kDay;
  auto out = store->IngestReport(again);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_TRUE(out->events.empty());
  auto upgraded = clean;
  upgraded.sequence = 4;
  upgraded.report.mutable_host()->set_platform(v1::PLATFORM_LINUX);
  ASSERT_TRUE(store->IngestReport(upgraded).ok());
  EXPECT_EQ(PlatformCounts(*store->GetSummary()), (std::map<std::string, std::string>{{"linux", "Linux 2"}}));
  // A Windows host joins.
  ASSERT_TRUE(store->IngestReport(Report(OnPlatform(Facts("h3", "desk-1", "windows", "10.0"), v1::PLATFORM_WINDOWS),
                                         1, {}, kStart + kDay))
                  .ok());
  EXPECT_EQ(listed({{v1::PLATFORM_WINDOWS}}), std::vector<std::string>{"desk-1/windows"});

  // Opened again: the migration is not applied twice.
  ASSERT_TRUE(store->Close().ok());
  store.reset();
  auto reopened = SqliteStore::Open(o);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ(PlatformCounts(*(*reopened)->GetSummary()),
            (std::map<std::string, std::string>{{"linux", "Linux 2"}, {"windows", "Windows 1"}}));
  EXPECT_EQ(UserVersion(path), sqlite::kSchemaVersion);
  reopened->reset();
  fs::remove_all(dir);
}

TEST(SqliteStoreUpgrade, EmptySchema1DatabaseGetsNoPlatformCounter) {
  const fs::path dir = fs::temp_directory_path() / ("ksweep-store-upgrade-empty-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "ksweep.db").string();
  {
    auto db = sqlite::Db::Open(path, true);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(sqlite::MigrateTo(**db, 1).ok());
  }
  ManualClock clock{kStart};
  SqliteStoreOptions o;
  o.path = path;
  o.clock = &clock;
  auto store = SqliteStore::Open(o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto s = (*store)->GetSummary();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->total_hosts(), 0);
  EXPECT_EQ(s->by_platform_size(), 0);
  store->reset();
  fs::remove_all(dir);
}

const Backend kBackends[] = {{"sqlite", MakeSqlite}};

std::string BackendName(const ::testing::TestParamInfo<Backend>& param) { return param.param.name; }

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformance, ::testing::ValuesIn(kBackends), BackendName);
INSTANTIATE_TEST_SUITE_P(Backends, StoreFleet, ::testing::ValuesIn(kBackends), BackendName);

}  // namespace
}  // namespace ksweep::server
