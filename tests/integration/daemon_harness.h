// What the daemon tests stand on (beside test_util.h: temp folders, files, polling): fixture roots, the real `ksweep-agent run` as a child process, and a
// collector on loopback: a real gRPC AgentService (port 0) that records every message it receives and answers as
// the protocol says (Welcome, Acks), with switches to withhold acks or the Welcome, refuse reports, stop reading,
// push commands and drop streams.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ksweep/v1/agent.grpc.pb.h"
#include "tests/integration/test_util.h"

namespace ksweep::daemon_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Generous: these are deadlines for conditions polled, never expectations about speed.
constexpr auto kDeadline = 30s;

inline const std::string kMachineId = "0123456789abcdef0123456789abcdef";

// One stanza of /var/lib/dpkg/status, as dpkg writes it.
inline std::string DpkgStanza(const std::string& package, const std::string& status, const std::string& version) {
  return "Package: " + package + "\nStatus: " + status +
         "\nPriority: optional\nSection: misc\nInstalled-Size: 1024\n"
         "Maintainer: Kaspersky Lab <support@kaspersky.com>\nArchitecture: amd64\nVersion: " +
         version + "\nDescription: test package\n\n";
}

inline std::string BasePackages() {
  return "Package: base-files\nStatus: install ok installed\nPriority: required\nSection: admin\n"
         "Maintainer: Santiago Vila <sanvila@debian.org>\nArchitecture: amd64\nVersion: 12.4+deb12u5\n"
         "Description: Debian base system miscellaneous files\n\n";
}

inline std::string KeslInstalled() { return BasePackages() + DpkgStanza("kesl", "install ok installed", "12.1.0-1234"); }

// A small Debian root: machine id (the host id), hostname, os-release, a dpkg database.
inline void MakeRoot(const fs::path& root, const std::string& hostname, const std::string& dpkg_status) {
  test::WriteFile(root / "etc/machine-id", kMachineId + "\n");
  test::WriteFile(root / "etc/hostname", hostname + "\n");
  test::WriteFile(root / "etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n"
                                           "VERSION_ID=\"12\"\nID=debian\n");
  test::WriteFile(root / "var/lib/dpkg/status", dpkg_status);
}

// Polls `done` until it holds or the deadline passes.
inline bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds deadline = kDeadline) {
  return test::WaitFor(done, deadline);
}

// A port nobody listens on right now (bound then released).
inline int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// `ksweep-agent run` in plain text against `server`, scanning `root`, with the debug log and the short debounce the
// loopback tests wait on; `extra` is appended.
inline std::vector<std::string> LoopbackRunArgs(const std::string& server, const fs::path& state,
                                                const fs::path& root, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"run", "--server", server, "--state-dir", state.string(), "--root", root.string(),
                                "--insecure", "--debounce-ms", "200", "--log-level", "debug"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// `ksweep-agent ARGS...` with stdout and stderr appended to a log file.
class AgentProcess {
 public:
  AgentProcess(std::vector<std::string> args, fs::path log) : args_(std::move(args)), log_(std::move(log)) {}
  ~AgentProcess() {
    if (pid_ > 0) Kill();
  }

  void Start() {
    std::vector<std::string> argv_storage = {test::AgentBinary()};
    argv_storage.insert(argv_storage.end(), args_.begin(), args_.end());
    std::vector<char*> argv;
    for (auto& arg : argv_storage) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const std::string log = log_.string();
    test::WriteFile(log, "");
    pid_ = ::fork();
    ASSERT_GE(pid_, 0) << "fork failed";
    if (pid_ == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_APPEND);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }

  // Sends `signal` and waits for the exit; the exit code, or -1 if it did not end before the deadline.
  int Stop(int signal = SIGTERM) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, signal);
    int status = 0;
    const bool ended = WaitUntil([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; });
    if (!ended) return -1;
    pid_ = -1;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
  }
  void Kill() { Stop(SIGKILL); }

  // Waits for the process to exit by itself; its exit code or -1.
  int Wait() {
    int status = 0;
    const bool ended = WaitUntil([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; });
    if (!ended) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  pid_t pid() const { return pid_; }
  std::string Log() const { return test::ReadFile(log_); }
  bool WaitForLog(const std::string& needle) {
    return WaitUntil([&] { return Log().find(needle) != std::string::npos; });
  }

 private:
  std::vector<std::string> args_;
  fs::path log_;
  pid_t pid_ = -1;
};

struct Received {
  int stream = 0;  // 0 for the first stream the collector accepted, then 1, 2, ...
  v1::AgentMessage message;
};

// The collector side of AgentService, enough of it to hold a conversation: Welcome after Hello, an Ack per report
// (when acks are on), with the highest acked sequence as Welcome.last_stored_sequence unless told otherwise.
class TestCollector final : public v1::AgentService::Service {
 public:
  grpc::Status Connect(grpc::ServerContext* context,
                       grpc::ServerReaderWriter<v1::CollectorMessage, v1::AgentMessage>* stream) override {
    auto active = std::make_shared<Active>();
    active->context = context;
    active->stream = stream;
    int id = 0;
    {
      std::lock_guard lock(mutex_);
      id = next_stream_++;
      active_[id] = active;
    }
    grpc::Status result = grpc::Status::OK;
    v1::AgentMessage message;
    while (stream->Read(&message)) {
      std::optional<v1::CollectorMessage> answer;
      bool reject = false;
      {
        std::lock_guard lock(mutex_);
        received_.push_back({id, message});
        if (message.has_hello() && welcome_) {
          answer.emplace();
          answer->mutable_welcome()->set_last_stored_sequence(last_stored_override_.value_or(stored_));
          answer->mutable_welcome()->set_heartbeat_interval_seconds(heartbeat_seconds_);
        } else if (message.has_report() && reject_reports_) {
          reject = true;
        } else if (message.has_report() && ack_) {
          const uint64_t sequence = message.report().sequence();
          answer.emplace();
          answer->mutable_ack()->set_sequence(sequence);
          answer->mutable_ack()->set_duplicate(sequence <= stored_);
          stored_ = std::max(stored_, sequence);
        }
      }
      changed_.notify_all();
      if (answer) {
        std::lock_guard write_lock(active->write_mutex);
        stream->Write(*answer);
      }
      if (reject) {
        result = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the test collector refuses every report");
        break;
      }
      // Not reading: what the agent writes piles up in HTTP/2 flow control, as with a collector that hangs.
      while (!Reading() && !context->IsCancelled()) std::this_thread::sleep_for(20ms);
    }
    {
      std::lock_guard lock(mutex_);
      active_.erase(id);
    }
    changed_.notify_all();
    return result;
  }

  void set_ack(bool on) { SetLocked(ack_, on); }
  void set_welcome(bool on) { SetLocked(welcome_, on); }
  void set_last_stored_override(std::optional<uint64_t> sequence) { SetLocked(last_stored_override_, sequence); }
  void set_reject_reports(bool on) { SetLocked(reject_reports_, on); }
  void set_reading(bool on) { SetLocked(reading_, on); }
  void set_heartbeat_seconds(uint32_t seconds) { SetLocked(heartbeat_seconds_, seconds); }

  // Writes to every open stream; false when there is none.
  bool Push(const v1::CollectorMessage& message) {
    std::vector<std::shared_ptr<Active>> streams;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [id, active] : active_) streams.push_back(active);
    }
    for (const auto& active : streams) {
      std::lock_guard write_lock(active->write_mutex);
      active->stream->Write(message);
    }
    return !streams.empty();
  }

  // Cancels every open stream, as a collector restart or a network cut would end them.
  void DropStreams() {
    std::lock_guard lock(mutex_);
    for (const auto& [id, active] : active_) active->context->TryCancel();
  }

  std::vector<Received> received() const {
    std::lock_guard lock(mutex_);
    return received_;
  }
  int open_streams() const {
    std::lock_guard lock(mutex_);
    return static_cast<int>(active_.size());
  }

  // Waits until `done(received)` holds.
  bool WaitFor(const std::function<bool(const std::vector<Received>&)>& done,
               std::chrono::milliseconds deadline = kDeadline) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, deadline, [&] { return done(received_); });
  }

 private:
  struct Active {
    grpc::ServerContext* context = nullptr;
    grpc::ServerReaderWriter<v1::CollectorMessage, v1::AgentMessage>* stream = nullptr;
    std::mutex write_mutex;  // Welcome and Acks from the handler, pushes from the test
  };

  bool Reading() const {
    std::lock_guard lock(mutex_);
    return reading_;
  }

  // The switches are read by the stream handlers while the test flips them.
  template <typename T>
  void SetLocked(T& field, T value) {
    std::lock_guard lock(mutex_);
    field = std::move(value);
  }

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Received> received_;
  std::map<int, std::shared_ptr<Active>> active_;
  int next_stream_ = 0;
  uint64_t stored_ = 0;
  bool ack_ = true;
  bool welcome_ = true;
  bool reject_reports_ = false;
  bool reading_ = true;
  std::optional<uint64_t> last_stored_override_;
  uint32_t heartbeat_seconds_ = 1;
};

// A TestCollector served on 127.0.0.1 (port 0 unless given).
class CollectorServer {
 public:
  explicit CollectorServer(int port = 0) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    if (!server_ || port_ == 0) throw std::runtime_error("cannot start the test collector");
  }
  ~CollectorServer() { Shutdown(); }
  void Shutdown() {
    if (server_) {
      server_->Shutdown(std::chrono::system_clock::now());
      server_->Wait();
      server_.reset();
    }
  }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  TestCollector& collector() { return service_; }

 private:
  TestCollector service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// Selections over what a collector received.
inline std::vector<v1::Report> ReportsOf(const std::vector<Received>& received, int stream = -1) {
  std::vector<v1::Report> reports;
  for (const auto& r : received) {
    if (r.message.has_report() && (stream < 0 || r.stream == stream)) reports.push_back(r.message.report());
  }
  return reports;
}

inline std::vector<v1::AgentMessage> MessagesOf(const std::vector<Received>& received, int stream) {
  std::vector<v1::AgentMessage> messages;
  for (const auto& r : received) {
    if (r.stream == stream) messages.push_back(r.message);
  }
  return messages;
}

inline int StreamsSeen(const std::vector<Received>& received) {
  int streams = 0;
  for (const auto& r : received) streams = std::max(streams, r.stream + 1);
  return streams;
}

}  // namespace ksweep::daemon_test
