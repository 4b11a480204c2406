// What the fleet end-to-end tests stand on, beside test_util.h (temp folders, child processes with a deadline,
// polling, the agent's JSON report): fixture roots made by the real dpkg, the real `ksweep-collector serve` and
// `ksweep-agent run` as long-running processes that can be stopped with SIGTERM or SIGKILL, and FleetService calls
// with a deadline. Every wait is a poll with a deadline, never a sleep.
#pragma once

// GCC 12 at -O2 sees "potential null dereferences" in gRPC's inlined sync client call ops that the gRPC API
// contract rules out (as in tests/integration/collector_test.cc).
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ksweep/v1/fleet.grpc.pb.h"
#include "tests/integration/test_util.h"

namespace ksweep::fleet_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test::ProcessResult;
using test::TempDir;

// Every condition is polled with this deadline: a bound on a hang, never an expectation about speed.
constexpr std::chrono::milliseconds kDeadline = 30s;

inline std::string CollectorBinary() { return std::string(KSWEEP_BINARY_DIR) + "/server/ksweep-collector"; }
inline std::string CliBinary() { return std::string(KSWEEP_BINARY_DIR) + "/cli/ksweep"; }

// The last `max` bytes of a log, for failure messages.
inline std::string Tail(const std::string& text, size_t max = 6000) {
  return text.size() <= max ? text : "..." + text.substr(text.size() - max);
}

inline std::string ReadOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A long-running child with stdout and stderr appended to a log file, in its own process group. Killed (SIGKILL)
// and reaped by the destructor if still running, and by the kernel if this test process dies first.
class Process {
 public:
  Process(std::vector<std::string> argv, std::string log_path) : log_path_(std::move(log_path)) {
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    int exec_error[2];
    if (::pipe2(exec_error, O_CLOEXEC) != 0) {
      start_error_ = std::string("pipe2: ") + std::strerror(errno);
      return;
    }
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      // Never outlive the test: a test killed at its ctest time-out must not leave an agent scanning "/" or a
      // collector behind for the next test to meet.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::setpgid(0, 0);
      const int in = ::open("/dev/null", O_RDONLY);
      const int out = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      int e = 0;
      if (in < 0 || out < 0) {
        e = errno;
      } else {
        ::dup2(in, 0);
        ::dup2(out, 1);
        ::dup2(out, 2);
        ::execv(args[0], args.data());
        e = errno;
      }
      [[maybe_unused]] const ssize_t n = ::write(exec_error[1], &e, sizeof e);
      ::_exit(127);
    }
    ::close(exec_error[1]);
    int child_errno = 0;
    if (pid_ < 0) {
      start_error_ = std::string("fork: ") + std::strerror(errno);
    } else if (::read(exec_error[0], &child_errno, sizeof child_errno) == static_cast<ssize_t>(sizeof child_errno)) {
      start_error_ = argv[0] + ": " + std::strerror(child_errno);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    ::close(exec_error[0]);
  }
  ~Process() {
    if (Running()) Stop(SIGKILL);
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  const std::string& start_error() const { return start_error_; }
  pid_t pid() const { return pid_; }

  bool Running() {
    if (pid_ <= 0 || exited_) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) Reap(status);
    return !exited_;
  }

  // Sends `signal` and waits for the exit: the exit code (128 + signal when a signal ended it), or -1 when it is
  // still running at the deadline (it is then killed).
  int Stop(int signal = SIGTERM) {
    if (!Running()) return code_;
    ::kill(pid_, signal);
    if (!test::WaitFor([this] { return !Running(); }, kDeadline)) {
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      exited_ = true;
      return -1;
    }
    return code_;
  }

  std::string Log() const { return ReadOrEmpty(log_path_); }
  const std::string& log_path() const { return log_path_; }

 private:
  void Reap(int status) {
    exited_ = true;
    code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  std::string log_path_;
  std::string start_error_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int code_ = -1;
};

// `ksweep-collector serve --data DIR` on loopback. Its bound addresses come from DIR/collector.ports.
class CollectorProc {
 public:
  CollectorProc(std::string data_dir, std::string log_path)
      : data_dir_(std::move(data_dir)), log_path_(std::move(log_path)) {}

  // `agent_listen` "127.0.0.1:0" picks a port; a restart passes the address it had, so agents find it again.
  ::testing::AssertionResult Start(const std::string& agent_listen = "127.0.0.1:0") {
    const std::string ports_file = data_dir_ + "/collector.ports";
    std::error_code ec;
    fs::remove(ports_file, ec);  // left behind by a killed collector
    process_ = std::make_unique<Process>(
        std::vector<std::string>{CollectorBinary(), "serve", "--data", data_dir_, "--agent-listen", agent_listen,
                                 "--api-listen", "127.0.0.1:0", "--insecure", "--log-level", "debug"},
        log_path_);
    if (!process_->start_error().empty()) return ::testing::AssertionFailure() << process_->start_error();
    std::map<std::string, std::string> kv;
    const bool up = test::WaitFor(
        [&] {
          if (!process_->Running()) return true;
          kv.clear();
          std::ifstream in(ports_file);
          for (std::string line; std::getline(in, line);) {
            const auto eq = line.find('=');
            if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
          }
          return !kv["agent_listen"].empty() && !kv["api_listen"].empty();
        },
        kDeadline);
    if (!up || !process_->Running()) {
      return ::testing::AssertionFailure() << "collector did not come up on " << agent_listen << "; log:\n"
                                           << Tail(Log());
    }
    agent_address_ = kv["agent_listen"];
    api_address_ = kv["api_listen"];
    channel_ = grpc::CreateChannel(api_address_, grpc::InsecureChannelCredentials());
    stub_ = v1::FleetService::NewStub(channel_);
    return ::testing::AssertionSuccess();
  }

  int Stop(int signal = SIGTERM) { return process_ ? process_->Stop(signal) : -1; }
  bool Running() { return process_ && process_->Running(); }

  const std::string& agent_address() const { return agent_address_; }
  const std::string& api_address() const { return api_address_; }
  v1::FleetService::Stub* fleet() const { return stub_.get(); }
  std::string Log() const { return ReadOrEmpty(log_path_); }

 private:
  std::string data_dir_;
  std::string log_path_;
  std::unique_ptr<Process> process_;
  std::string agent_address_;
  std::string api_address_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::FleetService::Stub> stub_;
};

// `ksweep-agent run` scanning `root` (a fixture root, or "/") with a short debounce, so a package change is
// reported within a fraction of a second of dpkg finishing. `extra` flags are appended.
inline std::unique_ptr<Process> StartAgent(const std::string& server, const std::string& root,
                                           const std::string& state_dir, const std::string& log_path,
                                           const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv{test::AgentBinary(), "run", "--server", server, "--state-dir", state_dir, "--root",
                                root, "--insecure", "--debounce-ms", "200", "--log-level", "debug"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return std::make_unique<Process>(std::move(argv), log_path);
}

// ---- fixture roots, and processes for the live root ----

// /proc/PID/comm without its newline; empty once the process is gone.
inline std::string CommOf(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(f, name);
  return name;
}

// A copy of `sleep` named `name`, running: the kernel shows it under that name in /proc/PID/comm.
class FakeDaemon {
 public:
  FakeDaemon(const TempDir& dir, const std::string& name) : path_(dir.Sub(name)) {
    const std::string sleep = ::access("/usr/bin/sleep", X_OK) == 0 ? "/usr/bin/sleep" : "/bin/sleep";
    std::error_code ec;
    fs::copy_file(sleep, path_, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      error_ = "copy " + sleep + ": " + ec.message();
      return;
    }
    fs::permissions(path_, fs::perms(0755), ec);
    // Long enough for the test, short enough not to linger if the test is killed before it can stop it.
    if (!child_.Start({path_, "120"}, &error_)) return;
    const pid_t pid = child_.pid();
    if (!test::WaitFor([&] { return CommOf(pid) == name; }, kDeadline)) {
      error_ = "pid " + std::to_string(pid) + " never became " + name;
    }
  }
  const std::string& error() const { return error_; }
  pid_t pid() const { return child_.pid(); }
  void Stop() { child_.Stop(); }

 private:
  std::string path_;
  std::string error_;
  test::Child child_;
};

// A system image in a folder: what the agent reads to name the host (machine id, hostname, os-release). Its package
// database is made by the real dpkg (Dpkg below).
inline void MakeHostRoot(const std::string& root, const std::string& hostname, int n) {
  char machine_id[33];
  std::snprintf(machine_id, sizeof machine_id, "%08x%024x", 0xf1ee7e2eu, static_cast<unsigned>(n));
  test::WriteFile(root + "/etc/machine-id", std::string(machine_id) + "\n");
  test::WriteFile(root + "/etc/hostname", hostname + "\n");
  test::WriteFile(root + "/etc/os-release",
                  "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n"
                  "ID=debian\n");
}

// The real dpkg on a fixture root (tests/fixtures/deb/make_deb_fixture.sh dpkg ROOT ARGS...).
inline ProcessResult Dpkg(const std::string& root, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/bin/sh", test::DebFixtureScript(), "dpkg", root};
  argv.insert(argv.end(), args.begin(), args.end());
  return test::RunProcess(argv, test::RunOptions::WithDeadline(2min));
}

// The fixture's product .debs (kesl, klnagent64, keslint, ...), built once into `out`.
inline ProcessResult BuildDebs(const std::string& out) {
  return test::RunProcess({"/bin/sh", test::DebFixtureScript(), "products", out},
                          test::RunOptions::WithDeadline(3min));
}

// The product .debs built once for a whole test suite: made in SetUpTestSuite, error() checked in SetUp.
class FixtureDebs {
 public:
  explicit FixtureDebs(std::string_view tag) : dir_(tag) {
    const ProcessResult r = BuildDebs(dir_.path());
    error_ = r.Exited(0) ? "" : "make_deb_fixture.sh products: " + r.Describe();
  }
  const std::string& error() const { return error_; }
  std::string Deb(const std::string& name) const { return dir_.path() + "/" + name + ".deb"; }

 private:
  TempDir dir_;
  std::string error_;
};

// ---- the fleet API ----

inline std::unique_ptr<grpc::ClientContext> Ctx(std::chrono::milliseconds deadline = 10s) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + deadline);
  return ctx;
}

inline std::string Describe(const grpc::Status& s) {
  return std::to_string(static_cast<int>(s.error_code())) + " " + s.error_message();
}

inline int64_t VerdictCount(const v1::Summary& s, const std::string& verdict) {
  for (const auto& c : s.by_verdict()) {
    if (c.key() == verdict) return c.hosts();
  }
  return 0;
}

inline std::map<std::string, int64_t> Counts(const google::protobuf::RepeatedPtrField<v1::Count>& counts) {
  std::map<std::string, int64_t> out;
  for (const auto& c : counts) out[c.key()] = c.hosts();
  return out;
}

inline std::vector<std::string> Hostnames(const v1::ListHostsResponse& r) {
  std::vector<std::string> names;
  for (const auto& h : r.hosts()) names.push_back(h.hostname());
  return names;
}

// Every page of a ListHosts query, `page_size` rows at a time; pages counted into *pages.
inline grpc::Status ListAllHosts(v1::FleetService::Stub* fleet, v1::ListHostsRequest req, v1::ListHostsResponse* out,
                                 int* pages = nullptr) {
  out->Clear();
  int n = 0;
  for (;;) {
    v1::ListHostsResponse page;
    const grpc::Status s = fleet->ListHosts(Ctx().get(), req, &page);
    if (!s.ok()) return s;
    ++n;
    for (auto& h : *page.mutable_hosts()) *out->add_hosts() = std::move(h);
    out->set_total_size(page.total_size());
    if (page.next_page_token().empty() || n > 1000) break;
    req.set_page_token(page.next_page_token());
  }
  if (pages != nullptr) *pages = n;
  return grpc::Status::OK;
}

// Every stored event (oldest first), optionally of one host.
inline grpc::Status ListAllEvents(v1::FleetService::Stub* fleet, const std::string& host,
                                  std::vector<v1::Event>* out) {
  out->clear();
  v1::ListEventsRequest req;
  req.set_host(host);
  req.set_page_size(1000);
  for (int n = 0; n < 1000; ++n) {
    v1::ListEventsResponse page;
    const grpc::Status s = fleet->ListEvents(Ctx().get(), req, &page);
    if (!s.ok()) return s;
    for (auto& e : *page.mutable_events()) out->push_back(std::move(e));
    if (page.next_page_token().empty()) break;
    req.set_page_token(page.next_page_token());
  }
  return grpc::Status::OK;
}

inline std::string EventLine(const v1::Event& e) {
  return std::to_string(e.id()) + " " + v1::EventType_Name(e.type()) + " " + e.hostname() + " " + e.product_id() +
         " " + v1::ProductState_Name(e.old_state()) + "->" + v1::ProductState_Name(e.new_state()) + " seq " +
         std::to_string(e.sequence());
}

inline std::string EventLines(const std::vector<v1::Event>& events) {
  std::string s;
  for (const auto& e : events) s += "  " + EventLine(e) + "\n";
  return s.empty() ? "  (no events)\n" : s;
}

inline bool SameFindings(const google::protobuf::RepeatedPtrField<v1::Finding>& a,
                         const google::protobuf::RepeatedPtrField<v1::Finding>& b) {
  if (a.size() != b.size()) return false;
  for (int i = 0; i < a.size(); ++i) {
    if (!google::protobuf::util::MessageDifferencer::Equals(a.Get(i), b.Get(i))) return false;
  }
  return true;
}

// Polls GetHost until the collector holds exactly the findings of `want` (a scan made after the fixture stopped
// changing): the agent may have reported a state dpkg passed through on the way, and this waits for the last word.
inline ::testing::AssertionResult WaitForFindings(v1::FleetService::Stub* fleet, const std::string& host,
                                                  const v1::HostReport& want, v1::Host* out) {
  v1::GetHostRequest req;
  req.set_host(host);
  req.set_history_limit(1000);
  grpc::Status status;
  const bool ok = test::WaitFor(
      [&] {
        out->Clear();
        status = fleet->GetHost(Ctx().get(), req, out);
        return status.ok() && SameFindings(out->findings(), want.findings());
      },
      kDeadline);
  if (ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << host << " never held the findings scanned from its root; GetHost: "
                                       << Describe(status) << "\nwant: " << test::FindingIds(want) << "\nhave:\n"
                                       << out->DebugString();
}

// A WatchEvents subscriber reading on its own thread; the test polls what it has received. The call has a deadline,
// so a collector that never answers cannot hang the test.
class Watcher {
 public:
  Watcher(v1::FleetService::Stub* fleet, const v1::WatchEventsRequest& req) {
    ctx_.set_deadline(std::chrono::system_clock::now() + 5min);
    reader_ = fleet->WatchEvents(&ctx_, req);
    // The collector sends the initial metadata once the subscription is in place: events after this are seen.
    reader_->WaitForInitialMetadata();
    thread_ = std::thread([this] {
      v1::Event e;
      while (reader_->Read(&e)) {
        std::lock_guard<std::mutex> lock(mu_);
        events_.push_back(e);
      }
      const grpc::Status s = reader_->Finish();
      std::lock_guard<std::mutex> lock(mu_);
      status_ = s;
      done_ = true;
    });
  }
  ~Watcher() {
    ctx_.TryCancel();
    thread_.join();
  }
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  std::vector<v1::Event> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  // Polls until `done` holds for the events received so far (or the stream ended, or the deadline passed).
  bool WaitFor(const std::function<bool(const std::vector<v1::Event>&)>& done) const {
    return test::WaitFor(
        [&] {
          std::lock_guard<std::mutex> lock(mu_);
          return done(events_) || done_;
        },
        kDeadline) &&
           done(events());
  }
  std::string Ended() const {
    std::lock_guard<std::mutex> lock(mu_);
    return done_ ? "stream ended: " + Describe(status_) : "stream open";
  }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::Event>> reader_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<v1::Event> events_;  // guarded by mu_
  grpc::Status status_;            // guarded by mu_
  bool done_ = false;              // guarded by mu_
};

// The real CLI against `api`, parsed from its JSON output into `Message`.
template <typename Message>
::testing::AssertionResult KsweepJson(const std::string& api, const std::vector<std::string>& args, Message* out) {
  std::vector<std::string> argv = {CliBinary(), "--insecure", "--server", api, "-o", "json"};
  argv.insert(argv.end(), args.begin(), args.end());
  const ProcessResult r = test::RunProcess(argv, test::RunOptions::WithDeadline(kDeadline));
  if (!r.Exited(0)) return ::testing::AssertionFailure() << "ksweep " << ::testing::PrintToString(args) << ": "
                                                         << r.Describe();
  out->Clear();
  const auto status = google::protobuf::util::JsonStringToMessage(r.out, out);
  if (!status.ok()) return ::testing::AssertionFailure() << status.ToString() << " in:\n" << r.out;
  return ::testing::AssertionSuccess();
}

}  // namespace ksweep::fleet_test
