// The agent's spool (agent/daemon/state_store.h) on real files: what it keeps while the collector is away (the
// latest snapshot plus change records, each with the agent time it was first seen), what an ack deletes, its bound,
// and what a damaged file does at the next start (set aside as NAME.corrupt with a log line, never a crash).
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "agent/daemon/state_store.h"
#include "common/logging.h"
#include "tests/integration/state_store_util.h"
#include "tests/integration/test_util.h"

namespace ksweep::chaos_test {
namespace {

namespace fs = std::filesystem;
using agent::SpoolKind;
using test::At;
using test::OpenStateStore;
using test::ReadFile;
using test::TempDir;
using test::WriteFile;

// A host with `product` in `state` (none when product is empty); `pid` changes only the evidence.
v1::HostReport Host(const std::string& product, v1::ProductState state = v1::PRODUCT_STATE_INSTALLED, int pid = 0) {
  v1::HostReport report;
  report.mutable_host()->set_host_id("h1");
  report.mutable_host()->set_hostname("spool-host");
  report.set_verdict(v1::VERDICT_CLEAN);
  if (!product.empty()) {
    report.set_verdict(state == v1::PRODUCT_STATE_RUNNING ? v1::VERDICT_RUNNING : v1::VERDICT_INSTALLED);
    auto* f = report.add_findings();
    f->set_product_id(product);
    f->set_state(state);
    f->set_version("12.1");
    auto* e = f->add_evidence();
    e->set_kind(v1::EVIDENCE_KIND_PROCESS);
    e->set_detail("process " + std::to_string(pid));
    e->set_pid(pid);
  }
  auto* probe = report.add_probes();
  probe->set_name("dpkg");
  probe->set_state(v1::PROBE_STATE_OK);
  return report;
}

std::vector<uint64_t> Sequences(const std::vector<v1::Report>& reports) {
  std::vector<uint64_t> out;
  for (const auto& r : reports) out.push_back(r.sequence());
  return out;
}

std::set<std::string> Files(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

TEST(Spool, OutageKeepsEveryProductChangeWithItsFirstSeenTime) {
  TempDir tmp;
  const std::string dir = tmp.Sub("state");
  {
    auto store = OpenStateStore(dir);
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->Stage(Host(""), At(100)).ok());  // 1: clean, acknowledged
    ASSERT_TRUE(store->Ack(1).ok());
    // The collector goes away. kesl appears (2), its pid changes twice (3, 4: evidence only), it is removed (5),
    // it comes back (6).
    ASSERT_TRUE(store->Stage(Host("kesl", v1::PRODUCT_STATE_RUNNING, 10), At(200)).ok());
    ASSERT_TRUE(store->Stage(Host("kesl", v1::PRODUCT_STATE_RUNNING, 11), At(300)).ok());
    ASSERT_TRUE(store->Stage(Host("kesl", v1::PRODUCT_STATE_RUNNING, 12), At(400)).ok());
    ASSERT_TRUE(store->Stage(Host(""), At(500)).ok());
    ASSERT_TRUE(store->Stage(Host("kesl", v1::PRODUCT_STATE_INSTALLED, 0), At(600)).ok());
  }
  auto store = OpenStateStore(dir);  // everything below comes from disk
  ASSERT_TRUE(store);
  EXPECT_EQ(store->last_sequence(), 6u);
  // 1 stays as what history compares with; 3 and 4 said nothing new about products.
  EXPECT_EQ(Sequences(store->changes()), (std::vector<uint64_t>{1, 2, 5}));
  const auto resend = store->ReportsAfter(1);
  ASSERT_EQ(Sequences(resend), (std::vector<uint64_t>{2, 5, 6}));
  // First seen: kesl running at 200 (not 400), gone at 500.
  EXPECT_EQ(resend[0].agent_time().seconds(), 200);
  EXPECT_EQ(resend[0].report().findings(0).state(), v1::PRODUCT_STATE_RUNNING);
  EXPECT_EQ(resend[0].report().findings(0).evidence_size(), 0);  // change records carry no evidence
  EXPECT_EQ(resend[1].agent_time().seconds(), 500);
  EXPECT_EQ(resend[1].report().findings_size(), 0);
  EXPECT_EQ(resend[2].agent_time().seconds(), 600);
  EXPECT_EQ(resend[2].report().findings(0).evidence_size(), 1);  // the latest is whole

  // The collector stores 2 and 5: 1 and 2 go, 5 stays as the new baseline.
  ASSERT_TRUE(store->Ack(5).ok());
  EXPECT_EQ(Sequences(store->changes()), (std::vector<uint64_t>{5}));
  EXPECT_EQ(Sequences(store->ReportsAfter(5)), (std::vector<uint64_t>{6}));
  EXPECT_EQ(Files(dir + "/spool"), (std::set<std::string>{"00000000000000000005.change"}));
  ASSERT_TRUE(store->Ack(6).ok());
  // With the latest acknowledged, nothing below it is needed.
  EXPECT_TRUE(store->changes().empty());
  EXPECT_TRUE(store->ReportsAfter(6).empty());
  EXPECT_TRUE(Files(dir + "/spool").empty());
}

TEST(Spool, BoundedHoweverLongTheOutage) {
  TempDir tmp;
  auto store = OpenStateStore(tmp.Sub("state"));
  ASSERT_TRUE(store);
  // A product flapping every scan, the collector never answering.
  const size_t flaps = agent::kMaxSpoolChanges + 40;
  for (size_t i = 0; i < flaps; ++i) {
    ASSERT_TRUE(store->Stage(Host(i % 2 ? "kesl" : ""), At(static_cast<int64_t>(i))).ok());
  }
  EXPECT_EQ(store->changes().size(), agent::kMaxSpoolChanges);
  EXPECT_EQ(Files(tmp.Sub("state/spool")).size(), agent::kMaxSpoolChanges);
  // The oldest transitions went; the newest are all there, in order, ending just below the latest.
  const auto resend = store->ReportsAfter(0);
  ASSERT_EQ(resend.size(), agent::kMaxSpoolChanges + 1);
  EXPECT_EQ(resend.back().sequence(), flaps);
  for (size_t i = 1; i < resend.size(); ++i) EXPECT_EQ(resend[i].sequence(), resend[i - 1].sequence() + 1);
  size_t bytes = 0;
  for (const auto& e : fs::directory_iterator(tmp.Sub("state/spool"))) bytes += fs::file_size(e.path());
  EXPECT_LE(bytes, agent::kMaxSpoolChangeBytes);
}

TEST(Spool, RecordsAreChecked) {
  v1::Report report;
  report.set_sequence(7);
  *report.mutable_report() = Host("kesl");
  const std::string bytes = agent::EncodeSpoolRecord(SpoolKind::kChange, report);
  auto back = agent::DecodeSpoolRecord(bytes, SpoolKind::kChange, "x");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->SerializeAsString(), report.SerializeAsString());

  struct Case {
    std::string name;
    std::string bytes;
    std::string error;
  };
  std::string flipped = bytes;
  flipped[flipped.size() - 3] ^= 0x01;
  std::string renumbered = bytes;
  renumbered.replace(renumbered.find(" 7 "), 3, " 8 ");
  const std::vector<Case> cases = {
      {"empty", "", "no spool record header"},
      {"truncated", bytes.substr(0, bytes.size() - 5), "truncated"},
      {"appended", bytes + "x", "truncated or appended"},
      {"bit flip", flipped, "SHA-256 does not match"},
      {"renumbered", renumbered, "SHA-256 does not match"},
      {"header only", bytes.substr(0, bytes.find('\n')), "no spool record header"},
      {"not a record", "hello\nworld", "does not start with 'ksweep-spool 1'"},
  };
  for (const auto& c : cases) {
    auto r = agent::DecodeSpoolRecord(c.bytes, SpoolKind::kChange, "/state/spool/x.change");
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_NE(r.status().message().find(c.error), std::string::npos) << c.name << ": " << r.status().message();
    EXPECT_NE(r.status().message().find("/state/spool/x.change"), std::string::npos) << c.name;
  }
  auto wrong_kind = agent::DecodeSpoolRecord(bytes, SpoolKind::kSnapshot, "x");
  ASSERT_FALSE(wrong_kind.ok());
  EXPECT_NE(wrong_kind.status().message().find("a change record where a snapshot was expected"), std::string::npos);
}

TEST(Spool, DamagedFilesAreSetAsideAndTheRestDelivered) {
  TempDir tmp;
  const std::string dir = tmp.Sub("state");
  {
    auto store = OpenStateStore(dir);
    ASSERT_TRUE(store);
    for (int i = 0; i < 6; ++i) ASSERT_TRUE(store->Stage(Host(i % 2 ? "kesl" : ""), At(i)).ok());
  }
  ASSERT_EQ(Files(dir + "/spool").size(), 5u);  // 1..5 below the latest 6
  // Power loss while the disk reordered writes: one record truncated, one with a flipped byte, one zero-length,
  // and a temp file from a write the agent died in.
  const std::string two = dir + "/spool/00000000000000000002.change";
  const std::string three = dir + "/spool/00000000000000000003.change";
  const std::string four = dir + "/spool/00000000000000000004.change";
  WriteFile(two, ReadFile(two).substr(0, 20));
  std::string bytes = ReadFile(three);
  bytes[bytes.size() / 2] ^= 0x40;
  WriteFile(three, bytes);
  WriteFile(four, "");
  WriteFile(dir + "/spool/00000000000000000007.change.tmp", "half");
  WriteFile(dir + "/last_report.pb.tmp", "half");

  auto store = OpenStateStore(dir);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->last_sequence(), 6u);
  EXPECT_EQ(Sequences(store->ReportsAfter(0)), (std::vector<uint64_t>{1, 5, 6}));
  const auto files = Files(dir + "/spool");
  EXPECT_EQ(files, (std::set<std::string>{"00000000000000000001.change", "00000000000000000002.change.corrupt",
                                          "00000000000000000003.change.corrupt", "00000000000000000004.change.corrupt",
                                          "00000000000000000005.change"}));
  // A damaged latest report: the numbers still come from the state file and the change records.
  WriteFile(dir + "/last_report.pb", ReadFile(dir + "/last_report.pb").substr(0, 30));
  store.reset();
  store = OpenStateStore(dir);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->last_sequence(), 6u);
  EXPECT_FALSE(store->latest());
  EXPECT_TRUE(fs::exists(dir + "/last_report.pb.corrupt"));
  auto next = store->Stage(Host("kesl"), At(9));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->sequence(), 7u);
}

TEST(Spool, ReportFromAnAgentBeforeTheSpoolIsRead) {
  TempDir tmp;
  const std::string dir = tmp.Sub("state");
  test::MakeDirs(dir);
  v1::Report old;
  old.set_sequence(12);
  *old.mutable_report() = Host("kesl");
  WriteFile(dir + "/last_report.pb", old.SerializeAsString());
  WriteFile(dir + "/state", "ksweep-agent-state 1\nsequence 12\nacked 11\n");
  auto store = OpenStateStore(dir);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->latest());
  EXPECT_EQ(Sequences(store->ReportsAfter(11)), (std::vector<uint64_t>{12}));
  ASSERT_TRUE(store->Stage(Host(""), At(1)).ok());
  EXPECT_EQ(ReadFile(dir + "/last_report.pb").rfind("ksweep-spool 1 snapshot 13 ", 0), 0u);
}

}  // namespace
}  // namespace ksweep::chaos_test
