// A RUNNING host through the CLI and the Python example: only the live root has processes, so one agent scans "/"
// while a process named like Kaspersky's `kesl` runs (a copy of sleep). Registered with RESOURCE_LOCK live_root:
// tests that expect this machine to be clean never run beside it.
#include <unistd.h>

#include <google/protobuf/util/time_util.h>

#include "tests/e2e/cli_fleet.h"

namespace ksweep::cli_test {
namespace {

constexpr const char* kPython = "/usr/bin/python3";

TEST(CliLiveTest, RunningHostThroughCliAndPython) {
  TempDir tmp;
  char buf[256] = {};
  ASSERT_EQ(::gethostname(buf, sizeof buf - 1), 0);
  const std::string live_hostname = buf;
  ASSERT_FALSE(live_hostname.empty());

  // The "Kaspersky" process: /proc/PID/comm is the file name, `kesl`.
  const fs::path fake = tmp.path() / "fake/kesl";
  fs::create_directories(fake.parent_path());
  fs::copy_file("/bin/sleep", fake);
  Child kesl({fake.string(), "600"}, tmp.path() / "kesl.out", tmp.path() / "kesl.err");
  ASSERT_TRUE(kesl.running());

  MakeRoot(tmp.path() / "roots/kesl", "cli-live-kesl-1", 11, {{"kesl", "12.1.0.1297"}});
  MakeRoot(tmp.path() / "roots/clean", "cli-live-clean-1", 12, {{"bash", "5.2.15-2+b2"}});
  Fleet fleet(tmp.path() / "fleet");
  ASSERT_TRUE(fleet.StartCollector());
  fleet.StartAgent("live", "/");
  fleet.StartAgent("kesl", tmp.path() / "roots/kesl");
  fleet.StartAgent("clean", tmp.path() / "roots/clean");
  ASSERT_TRUE(fleet.WaitForSummary([](const v1::Summary& s) {
    return s.total_hosts() == 3 && Fleet::VerdictCount(s, "RUNNING") == 1 && Fleet::VerdictCount(s, "INSTALLED") == 1 &&
           Fleet::VerdictCount(s, "CLEAN") == 1;
  }));

  Outcome summary = fleet.Ksweep({"summary"});
  ASSERT_EQ(summary.code, 0) << Describe(summary);
  EXPECT_TRUE(summary.out.starts_with("Hosts: 3 total, 2 affected (running or installed), 0 stale")) << summary.out;
  EXPECT_NE(summary.out.find("RUNNING    1"), std::string::npos) << summary.out;

  Outcome running = fleet.Ksweep({"hosts", "--verdict", "running", "-o", "json"});
  ASSERT_EQ(running.code, 0) << Describe(running);
  const auto hosts = ParseJson<v1::ListHostsResponse>(running.out);
  ASSERT_EQ(hosts.hosts_size(), 1) << running.out;
  const auto& live = hosts.hosts(0);
  EXPECT_EQ(live.hostname(), live_hostname);
  ASSERT_GE(live.products_size(), 1);
  EXPECT_EQ(live.products(0), "kesl");

  Outcome ordered = fleet.Ksweep({"hosts", "--order", "verdict"});
  ASSERT_EQ(ordered.code, 0) << Describe(ordered);
  const auto lines = Lines(ordered.out);
  ASSERT_EQ(lines.size(), 4u) << ordered.out;
  EXPECT_TRUE(lines[1].starts_with(live_hostname + " ")) << ordered.out;
  EXPECT_NE(lines[1].find("RUNNING"), std::string::npos) << ordered.out;
  EXPECT_TRUE(lines[2].starts_with("cli-live-kesl-1 ")) << ordered.out;

  // The evidence names the process.
  Outcome detail = fleet.Ksweep({"host", live.host_id(), "-o", "json"});
  ASSERT_EQ(detail.code, 0) << Describe(detail);
  const auto host = ParseJson<v1::Host>(detail.out);
  bool process_seen = false;
  for (const auto& f : host.findings()) {
    if (f.product_id() != "kesl") continue;
    EXPECT_EQ(f.state(), v1::PRODUCT_STATE_RUNNING);
    for (const auto& e : f.evidence()) {
      if (e.kind() == v1::EVIDENCE_KIND_PROCESS && e.pid() == kesl.pid()) process_seen = true;
    }
  }
  EXPECT_TRUE(process_seen) << "no PROCESS evidence for pid " << kesl.pid() << ":\n" << detail.out;
  Outcome table = fleet.Ksweep({"host", live_hostname});
  ASSERT_EQ(table.code, 0) << Describe(table);
  EXPECT_NE(table.out.find("PROCESS"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("/proc/" + std::to_string(kesl.pid())), std::string::npos) << table.out;

  // The Python example prints exactly the running host.
  const bool python_ok = RunCommand({kPython, "-c", "import grpc, google.protobuf"}, tmp.path()).code == 0;
  const std::string script = std::string(KSWEEP_SOURCE_DIR) + "/examples/python/list_running.py";
  const std::string stubs = std::string(KSWEEP_BINARY_DIR) + "/python";
  if (python_ok) {
    Outcome py = RunCommand({kPython, script, "--server", fleet.api_address(), "--stubs", stubs, "--insecure"}, tmp.path());
    ASSERT_EQ(py.code, 0) << Describe(py);
    const auto py_lines = Lines(py.out);
    ASSERT_EQ(py_lines.size(), 1u) << py.out;
    EXPECT_TRUE(py_lines[0].starts_with(live_hostname + "\t" + live.host_id() + "\tkesl")) << py_lines[0];
  }

  // The process stops; a scan asked through the CLI makes the agent see it: the host leaves RUNNING.
  kesl.Signal(SIGKILL);
  ASSERT_NE(kesl.Wait(kDeadline), -1);
  Outcome scan = fleet.Ksweep({"scan", live_hostname, "--reason", "cli live test"});
  ASSERT_EQ(scan.code, 0) << Describe(scan);
  EXPECT_TRUE(scan.out.starts_with("Scan requested on 1 host(s).")) << scan.out;
  EXPECT_TRUE(WaitFor([&] {
    Outcome r = fleet.Ksweep({"hosts", "--verdict", "running", "-o", "json"});
    return r.code == 0 && ParseJson<v1::ListHostsResponse>(r.out).hosts_size() == 0;
  })) << fleet.AgentLogs();
  Outcome events = fleet.Ksweep({"events", "--host", live_hostname, "-o", "json"});
  ASSERT_EQ(events.code, 0) << Describe(events);
  bool gone = false;
  const auto listed = ParseJson<v1::ListEventsResponse>(events.out);
  for (const auto& e : listed.events()) {
    if (e.product_id() == "kesl" && e.old_state() == v1::PRODUCT_STATE_RUNNING) gone = true;
  }
  EXPECT_TRUE(gone) << events.out;

  if (python_ok) {
    Outcome py = RunCommand({kPython, script, "--server", fleet.api_address(), "--stubs", stubs, "--insecure"}, tmp.path());
    ASSERT_EQ(py.code, 0) << Describe(py);
    EXPECT_EQ(py.out, "") << "nothing runs Kaspersky any more";
  } else {
    GTEST_SKIP() << kPython << " has no grpc module (scripts/setup.sh installs python3-grpcio): Python part skipped";
  }
}

}  // namespace
}  // namespace ksweep::cli_test
