#include "tests/integration/test_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <google/protobuf/util/json_util.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace ksweep::test {
namespace {

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// Tests make folders unreadable (chmod 000); give them back to the owner so the tree can be removed.
void MakeRemovable(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return;
  ::chmod(path.c_str(), 0700);
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return;
  std::vector<std::string> children;
  while (const dirent* e = ::readdir(dir)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) children.push_back(e->d_name);
  }
  ::closedir(dir);
  for (const auto& c : children) MakeRemovable(path + "/" + c);
}

struct Pipe {
  int fd[2] = {-1, -1};
  bool Open() { return ::pipe2(fd, O_CLOEXEC) == 0; }
  void Close(int i) {
    if (fd[i] >= 0) ::close(fd[i]);
    fd[i] = -1;
  }
  ~Pipe() {
    Close(0);
    Close(1);
  }
};

std::string Truncated(const std::string& s, size_t max) {
  return s.size() <= max ? s : s.substr(0, max) + "... (" + std::to_string(s.size()) + " bytes)";
}

}  // namespace

TempDir::TempDir(std::string_view tag) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/ksweep-" + std::string(tag) +
                        "-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error(Errno("mkdtemp " + pattern));
  path_ = pattern;
  // Reachable by other users, for tests that scan as an unprivileged user.
  ::chmod(path_.c_str(), 0755);
}

TempDir::~TempDir() {
  MakeRemovable(path_);
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::Sub(std::string_view relative) const { return path_ + "/" + std::string(relative); }

std::string ProcessResult::Describe() const {
  std::string s;
  if (!start_error.empty()) {
    s = "could not start: " + start_error;
  } else if (timed_out) {
    s = "timed out (killed at the deadline)";
  } else if (signal != 0) {
    s = "killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
  } else {
    s = "exit " + std::to_string(exit_code);
  }
  return s + "\n--- stderr ---\n" + Truncated(err, 4000) + "\n--- stdout ---\n" + Truncated(out, 2000);
}

ProcessResult RunProcess(const std::vector<std::string>& argv, const RunOptions& options) {
  ProcessResult result;
  if (argv.empty()) {
    result.start_error = "empty argv";
    return result;
  }
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  Pipe in;
  Pipe out;
  Pipe err;
  Pipe exec_error;  // the child writes errno here when exec fails; closed by exec when it succeeds
  if (!in.Open() || !out.Open() || !err.Open() || !exec_error.Open()) {
    result.start_error = Errno("pipe2");
    return result;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    result.start_error = Errno("fork");
    return result;
  }
  if (pid == 0) {
    // Own process group, so the deadline kills whatever the command started too.
    ::setpgid(0, 0);
    ::dup2(in.fd[0], STDIN_FILENO);
    ::dup2(out.fd[1], STDOUT_FILENO);
    ::dup2(err.fd[1], STDERR_FILENO);
    int e = 0;
    if (options.gid && (::setgroups(0, nullptr) != 0 || ::setgid(*options.gid) != 0)) e = errno;
    if (e == 0 && options.uid && ::setuid(*options.uid) != 0) e = errno;
    if (e == 0) {
      ::execvp(cargv[0], cargv.data());
      e = errno;
    }
    [[maybe_unused]] const ssize_t n = ::write(exec_error.fd[1], &e, sizeof e);
    ::_exit(127);
  }
  in.Close(0);
  out.Close(1);
  err.Close(1);
  exec_error.Close(1);
  int child_errno = 0;
  if (::read(exec_error.fd[0], &child_errno, sizeof child_errno) == static_cast<ssize_t>(sizeof child_errno)) {
    result.start_error = argv[0] + ": " + std::strerror(child_errno);
  }

  const auto deadline = std::chrono::steady_clock::now() + options.deadline;
  size_t written = 0;
  if (options.stdin_data.empty()) in.Close(1);
  if (in.fd[1] >= 0) ::fcntl(in.fd[1], F_SETFL, O_NONBLOCK);
  char buf[65536];
  while (out.fd[0] >= 0 || err.fd[0] >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      break;
    }
    std::vector<pollfd> fds;
    if (out.fd[0] >= 0) fds.push_back({out.fd[0], POLLIN, 0});
    if (err.fd[0] >= 0) fds.push_back({err.fd[0], POLLIN, 0});
    if (in.fd[1] >= 0) fds.push_back({in.fd[1], POLLOUT, 0});
    const int n = ::poll(fds.data(), fds.size(), static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (n < 0 && errno != EINTR) break;
    for (const auto& p : fds) {
      if (p.revents == 0) continue;
      if (p.fd == in.fd[1]) {
        const ssize_t w = ::write(p.fd, options.stdin_data.data() + written, options.stdin_data.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if (w < 0 && errno != EAGAIN && errno != EINTR) written = options.stdin_data.size();
        if (written >= options.stdin_data.size()) in.Close(1);
        continue;
      }
      const ssize_t r = ::read(p.fd, buf, sizeof buf);
      if (r > 0) {
        (p.fd == out.fd[0] ? result.out : result.err).append(buf, static_cast<size_t>(r));
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        if (p.fd == out.fd[0]) {
          out.Close(0);
        } else {
          err.Close(0);
        }
      }
    }
  }
  in.Close(1);
  int status = 0;
  while (!result.timed_out) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      result.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (result.timed_out) {
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return result;
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  return result;
}

bool Child::Start(const std::vector<std::string>& argv, std::string* error) {
  Stop();
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  Pipe exec_error;
  if (!exec_error.Open()) {
    *error = Errno("pipe2");
    return false;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    *error = Errno("fork");
    return false;
  }
  if (pid == 0) {
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, STDIN_FILENO);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    ::execv(cargv[0], cargv.data());
    const int e = errno;
    [[maybe_unused]] const ssize_t n = ::write(exec_error.fd[1], &e, sizeof e);
    ::_exit(127);
  }
  exec_error.Close(1);
  int child_errno = 0;
  if (::read(exec_error.fd[0], &child_errno, sizeof child_errno) == static_cast<ssize_t>(sizeof child_errno)) {
    ::waitpid(pid, nullptr, 0);
    *error = argv[0] + ": " + std::strerror(child_errno);
    return false;
  }
  pid_ = pid;
  return true;
}

void Child::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds deadline) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void MakeDirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) throw std::runtime_error("mkdir -p " + path + ": " + ec.message());
}

void WriteFile(const std::string& path, std::string_view content, mode_t mode) {
  MakeDirs(std::filesystem::path(path).parent_path().string());
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(content.data(), static_cast<std::streamsize>(content.size()));
  f.close();
  if (!f) throw std::runtime_error("write " + path + " failed");
  if (::chmod(path.c_str(), mode) != 0) throw std::runtime_error(Errno("chmod " + path));
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("open " + path + " failed");
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

void Symlink(const std::string& target, const std::string& link) {
  MakeDirs(std::filesystem::path(link).parent_path().string());
  if (::symlink(target.c_str(), link.c_str()) != 0) throw std::runtime_error(Errno("symlink " + link));
}

std::string AgentBinary() { return std::string(KSWEEP_BINARY_DIR) + "/agent/ksweep-agent"; }

std::string SourcePath(std::string_view relative) { return std::string(KSWEEP_SOURCE_DIR) + "/" + std::string(relative); }

std::string DebFixtureScript() { return SourcePath("tests/fixtures/deb/make_deb_fixture.sh"); }

std::string Sha256Sum(const std::string& path) {
  const ProcessResult r = RunProcess({"sha256sum", "--binary", path});
  if (!r.Exited(0)) return {};
  const size_t sp = r.out.find(' ');
  return sp == 64 ? r.out.substr(0, 64) : std::string();
}

bool ParseReport(const std::string& json, v1::HostReport* report, std::string* error) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(json, report, options);
  if (!status.ok()) {
    *error = std::string(status.message()) + " in: " + Truncated(json, 2000);
    return false;
  }
  return true;
}

AgentScan ScanRoot(const std::string& root, const std::vector<std::string>& extra, const RunOptions& options) {
  std::vector<std::string> argv = {AgentBinary(), "scan", "--root", root, "--json"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  AgentScan scan;
  scan.process = RunProcess(argv, options);
  if (scan.process.Exited(0) || scan.process.Exited(3)) {
    scan.parsed = ParseReport(scan.process.out, &scan.report, &scan.parse_error);
  } else {
    scan.parse_error = "not parsed: " + scan.process.Describe();
  }
  return scan;
}

const v1::Finding* FindFinding(const v1::HostReport& report, std::string_view product_id) {
  for (const auto& f : report.findings()) {
    if (f.product_id() == product_id) return &f;
  }
  return nullptr;
}

const v1::ProbeRun* FindProbe(const v1::HostReport& report, std::string_view name) {
  for (const auto& p : report.probes()) {
    if (p.name() == name) return &p;
  }
  return nullptr;
}

const v1::Evidence* FindEvidence(const v1::Finding& finding, v1::EvidenceKind kind) {
  for (const auto& e : finding.evidence()) {
    if (e.kind() == kind) return &e;
  }
  return nullptr;
}

std::string FindingIds(const v1::HostReport& report) {
  std::string s;
  for (const auto& f : report.findings()) {
    if (!s.empty()) s += ", ";
    s += f.product_id() + " (" + v1::ProductState_Name(f.state()) + ")";
  }
  return s.empty() ? "(none)" : s;
}

std::string JoinWarnings(const v1::HostReport& report) {
  std::string s;
  for (const auto& w : report.warnings()) s += "  " + w + "\n";
  return s.empty() ? "  (no warnings)\n" : s;
}

bool AnyWarningContains(const v1::HostReport& report, std::string_view needle) {
  for (const auto& w : report.warnings()) {
    if (w.find(needle) != std::string::npos) return true;
  }
  return false;
}

}  // namespace ksweep::test
