// What the CLI end-to-end tests stand on: child processes with a deadline, fixture roots (a dpkg status file, a
// machine id, os-release), and a small fleet of real processes on loopback: one `ksweep-collector serve` on port 0
// and one `ksweep-agent run` per fixture root. The `ksweep` binary under test is run like a user would.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ksweep/v1/fleet.pb.h"

extern char** environ;

namespace ksweep::cli_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Deadlines for conditions polled, never expectations about speed.
constexpr auto kDeadline = 60s;

inline std::string Bin(const std::string& rel) { return std::string(KSWEEP_BINARY_DIR) + "/" + rel; }
inline std::string CliBinary() { return Bin("cli/ksweep"); }
inline std::string CollectorBinary() { return Bin("server/ksweep-collector"); }
inline std::string AgentBinary() { return Bin("agent/ksweep-agent"); }

inline std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void WriteFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  // Written beside and renamed: a watcher sees one complete file, never a half-written one.
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
  }
  fs::rename(tmp, path);
}

inline std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Polls `done` until it holds or the deadline passes.
inline bool WaitFor(const std::function<bool()>& done, std::chrono::seconds deadline = kDeadline) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(50ms);  // polling interval, not a synchronisation
  }
  return done();
}

class TempDir {
 public:
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "ksweep-cli-test-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// The environment of this test minus KSWEEP_SERVER (a developer's own setting must not leak in), plus `extra`.
inline std::vector<std::string> ChildEnv(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string_view(*e).starts_with("KSWEEP_SERVER=")) continue;
    env.emplace_back(*e);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

// A child process with stdout and stderr in files.
class Child {
 public:
  Child(std::vector<std::string> argv, const fs::path& out, const fs::path& err,
        const std::vector<std::string>& extra_env = {})
      : out_(out), err_(err) {
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    std::vector<std::string> env_s = ChildEnv(extra_env);
    std::vector<char*> env;
    for (auto& e : env_s) env.push_back(e.data());
    env.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), env.data()) != 0) {
      ADD_FAILURE() << "cannot start " << argv[0];
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Child() {
    if (running()) {
      ::kill(pid_, SIGKILL);
      Wait(kDeadline);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool running() {
    if (pid_ <= 0 || exited_) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) Reap(status);
    return !exited_;
  }
  void Signal(int sig) {
    if (running()) ::kill(pid_, sig);
  }
  // Exit code (128 + signal when killed by one), or -1 if it is still running at the deadline.
  int Wait(std::chrono::seconds deadline) {
    WaitFor([this] { return !running(); }, deadline);
    return exited_ ? code_ : -1;
  }
  // SIGTERM, wait, SIGKILL if it will not go.
  int Stop() {
    Signal(SIGTERM);
    if (Wait(kDeadline) == -1) {
      ::kill(pid_, SIGKILL);
      Wait(kDeadline);
    }
    return code_;
  }
  std::string out() const { return ReadFile(out_); }
  std::string err() const { return ReadFile(err_); }
  pid_t pid() const { return pid_; }

 private:
  void Reap(int status) {
    exited_ = true;
    code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  fs::path out_, err_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int code_ = -1;
};

struct Outcome {
  int code = -1;
  std::string out;
  std::string err;
};

// Runs a command to completion (killed at the deadline), in `scratch` for its output files.
inline Outcome RunCommand(const std::vector<std::string>& argv, const fs::path& scratch,
                      const std::vector<std::string>& extra_env = {}) {
  static int counter = 0;
  const std::string n = std::to_string(++counter);
  Child child(argv, scratch / ("run-" + n + ".out"), scratch / ("run-" + n + ".err"), extra_env);
  Outcome r;
  r.code = child.Wait(kDeadline);
  if (r.code == -1) ADD_FAILURE() << argv[0] << " still running at the deadline";
  r.out = child.out();
  r.err = child.err();
  return r;
}

inline std::string Describe(const Outcome& r) {
  return "exit " + std::to_string(r.code) + "\n--- stdout\n" + r.out + "--- stderr\n" + r.err;
}

template <typename Message>
Message ParseJson(const std::string& json) {
  Message m;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &m);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << json;
  return m;
}

// RFC 4180 records: quoted fields may hold commas, doubled quotes and line breaks.
inline std::vector<std::vector<std::string>> ParseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false;
  bool any = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field.push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
      any = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      any = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
      any = false;
    } else {
      field.push_back(c);
      any = true;
    }
  }
  if (any || !field.empty()) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

// ---- fixture roots ----

struct Package {
  std::string name;
  std::string version;
  std::string status = "install ok installed";
};

inline std::string DpkgStatus(const std::vector<Package>& packages) {
  std::string text;
  for (const auto& p : packages) {
    text += "Package: " + p.name + "\nStatus: " + p.status +
            "\nPriority: optional\nSection: misc\nInstalled-Size: 1024\nMaintainer: Test <test@example.org>\n"
            "Architecture: amd64\nVersion: " + p.version + "\nDescription: " + p.name + " test package\n\n";
  }
  return text;
}

// A system image in a folder: the files the agent reads to name the host and list its packages.
inline void MakeRoot(const fs::path& root, const std::string& hostname, int id, const std::vector<Package>& packages) {
  char machine_id[33];
  std::snprintf(machine_id, sizeof machine_id, "%032x", 0xc11a000 + id);
  WriteFile(root / "etc/hostname", hostname + "\n");
  WriteFile(root / "etc/machine-id", std::string(machine_id) + "\n");
  WriteFile(root / "etc/os-release",
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n"
            "ID=debian\n");
  WriteFile(root / "var/lib/dpkg/status", DpkgStatus(packages));
}

// ---- the fleet ----

class Fleet {
 public:
  explicit Fleet(const fs::path& dir) : dir_(dir) { fs::create_directories(dir_ / "logs"); }
  ~Fleet() { StopAll(); }

  // `ksweep-collector serve` on loopback port 0; its bound ports come from DATA/collector.ports.
  // Given addresses (a restart on the same ports) instead of port 0 when set.
  ::testing::AssertionResult StartCollector(const std::string& agent_listen = "127.0.0.1:0",
                                            const std::string& api_listen = "127.0.0.1:0") {
    const fs::path data = dir_ / "collector";
    fs::create_directories(data);
    const std::string n = std::to_string(++collector_starts_);
    collector_ = std::make_unique<Child>(
        std::vector<std::string>{CollectorBinary(), "serve", "--data", data.string(), "--agent-listen", agent_listen,
                                 "--api-listen", api_listen, "--insecure", "--log-level", "info"},
        dir_ / ("logs/collector-" + n + ".out"), dir_ / ("logs/collector-" + n + ".err"));
    std::map<std::string, std::string> kv;
    const bool up = WaitFor([&] {
      if (!collector_->running()) return true;
      kv.clear();
      for (const auto& line : Lines(ReadFile(data / "collector.ports"))) {
        const auto eq = line.find('=');
        if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
      }
      return !kv["agent_listen"].empty() && !kv["api_listen"].empty();
    });
    if (!up || !collector_->running()) {
      return ::testing::AssertionFailure() << "collector did not come up; stderr:\n" << collector_->err();
    }
    agent_address_ = kv["agent_listen"];
    api_address_ = kv["api_listen"];
    return ::testing::AssertionSuccess();
  }

  // `ksweep-agent run` scanning `root` and reporting to the collector.
  void StartAgent(const std::string& name, const fs::path& root) {
    const fs::path state = dir_ / "agents" / name;
    fs::create_directories(state);
    agents_[name] = (std::make_unique<Child>(
        std::vector<std::string>{AgentBinary(), "run", "--server", agent_address_, "--state-dir", state.string(),
                                 "--root", root.string(), "--insecure", "--debounce-ms", "100", "--log-level",
                                 "info"},
        dir_ / "logs" / (name + ".out"), dir_ / "logs" / (name + ".err")));
  }

  // The CLI under test, pointed at this fleet's API (unless `args` name another server). The fleet runs
  // --insecure (plain text: the API's TLS and tokens are tested in cli_auth_test), so the CLI says so too.
  Outcome Ksweep(std::vector<std::string> args, const std::vector<std::string>& env = {}) const {
    std::vector<std::string> argv{CliBinary(), "--insecure", "--server", api_address_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, dir_ / "logs", env);
  }

  // Polls `ksweep summary -o json` until `ready` holds for the summary.
  ::testing::AssertionResult WaitForSummary(const std::function<bool(const v1::Summary&)>& ready) const {
    std::string last;
    const bool ok = WaitFor([&] {
      Outcome r = Ksweep({"summary", "-o", "json"});
      last = Describe(r);
      if (r.code != 0) return false;
      v1::Summary s;
      if (!google::protobuf::util::JsonStringToMessage(r.out, &s).ok()) return false;
      return ready(s);
    });
    if (ok) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "the fleet did not get there; last summary: " << last
                                         << "\ncollector stderr:\n" << collector_->err() << AgentLogs();
  }

  std::string AgentLog(const std::string& name) const { return ReadFile(dir_ / "logs" / (name + ".err")); }

  std::string AgentLogs() const {
    std::string logs;
    for (const auto& entry : fs::directory_iterator(dir_ / "logs")) {
      if (entry.path().filename().string().ends_with(".err") &&
          !entry.path().filename().string().starts_with("run-")) {
        logs += "\n--- " + entry.path().filename().string() + "\n" + ReadFile(entry.path());
      }
    }
    return logs;
  }

  void StopAgent(const std::string& name) {
    if (auto it = agents_.find(name); it != agents_.end()) it->second->Stop();
  }

  // SIGTERM (graceful), then the same data and ports again. Agents reconnect by themselves.
  ::testing::AssertionResult RestartCollector() {
    if (collector_->Stop() != 0) return ::testing::AssertionFailure() << "collector did not stop cleanly";
    return StartCollector(agent_address_, api_address_);
  }

  void StopAll() {
    for (auto& [name, a] : agents_) a->Stop();
    agents_.clear();
    if (collector_) collector_->Stop();
    collector_.reset();
  }

  static int64_t VerdictCount(const v1::Summary& s, const std::string& verdict) {
    for (const auto& c : s.by_verdict()) {
      if (c.key() == verdict) return c.hosts();
    }
    return 0;
  }

  const std::string& api_address() const { return api_address_; }
  const std::string& agent_address() const { return agent_address_; }
  const fs::path& dir() const { return dir_; }
  Child* collector() { return collector_.get(); }

 private:
  fs::path dir_;
  std::unique_ptr<Child> collector_;
  std::map<std::string, std::unique_ptr<Child>> agents_;
  std::string agent_address_;
  std::string api_address_;
  int collector_starts_ = 0;
};

}  // namespace ksweep::cli_test
