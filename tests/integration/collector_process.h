// A real ksweep-collector process for tests: started on loopback port 0 in a temp data dir; its bound ports are read
// from DATA_DIR/collector.ports, polled with a deadline.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace ksweep::testing {

inline std::string CollectorBinary() { return std::string(KSWEEP_BINARY_DIR) + "/server/ksweep-collector"; }

// Runs `ksweep-collector ARGS...` to completion; returns the exit code and what it printed to stderr.
inline int RunCollector(const std::vector<std::string>& args, std::string* err_out) {
  const std::string err_file =
      std::filesystem::temp_directory_path() / ("ksweep-collector-err-" + std::to_string(::getpid()));
  std::vector<std::string> argv_s{CollectorBinary()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = 0;
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) return -1;
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  waitpid(pid, &status, 0);
  std::ifstream in(err_file);
  err_out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  std::filesystem::remove(err_file);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

class CollectorProcess {
 public:
  CollectorProcess(std::string data_dir, std::vector<std::string> extra_args, bool tls = false)
      : data_dir_(std::move(data_dir)), extra_(std::move(extra_args)), tls_(tls) {}
  ~CollectorProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
  }

  // Starts the process and waits (polling, 30 s deadline) for its ports file. False with `error` set otherwise.
  bool Start(std::string* error) {
    std::filesystem::remove(std::filesystem::path(data_dir_) / "collector.ports");
    log_file_ = data_dir_ + ".log";
    std::vector<std::string> argv_s{CollectorBinary(), "serve", "--data", data_dir_, "--agent-listen",
                                    "127.0.0.1:0", "--api-listen", "127.0.0.1:0", "--log-level", "debug",
                                    "--log-file", log_file_};
    // Plain text unless the test asks for TLS (`tls` in the constructor): the PKI tests pass a data dir made by
    // `ksweep-collector init` and no --insecure.
    if (!tls_ && std::find(extra_.begin(), extra_.end(), "--insecure") == extra_.end()) argv_s.push_back("--insecure");
    argv_s.insert(argv_s.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
      *error = "cannot start " + argv_s[0];
      pid_ = -1;
      return false;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        *error = "collector exited early with status " + std::to_string(status) + "; log: " + Log();
        return false;
      }
      std::ifstream in(std::filesystem::path(data_dir_) / "collector.ports");
      std::map<std::string, std::string> kv;
      std::string line;
      while (std::getline(in, line)) {
        const auto eq = line.find('=');
        if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
      }
      if (!kv["agent_listen"].empty() && !kv["api_listen"].empty()) {
        agent_ = kv["agent_listen"];
        api_ = kv["api_listen"];
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling the ports file
    }
    *error = "no ports file within 30 s; log: " + Log();
    return false;
  }

  // SIGTERM, then waits (30 s at most, then SIGKILL). Returns the exit code (128+signal if killed).
  int Stop() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) != pid_) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling for the exit
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  std::string Log() const {
    std::ifstream in(log_file_);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  const std::string& agent_address() const { return agent_; }
  const std::string& api_address() const { return api_; }
  pid_t pid() const { return pid_; }

 private:
  std::string data_dir_;
  std::vector<std::string> extra_;
  bool tls_ = false;
  std::string log_file_;
  pid_t pid_ = -1;
  std::string agent_;
  std::string api_;
};

}  // namespace ksweep::testing
