// Helpers for integration tests that drive real binaries: temp folders, child processes with a deadline, the agent's
// JSON report. No assertions here: tests decide what a failure means.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ksweep/v1/report.pb.h"

namespace ksweep::test {

// A fresh folder under $TMPDIR (default /tmp), removed with everything in it, even folders a test made unreadable.
class TempDir {
 public:
  explicit TempDir(std::string_view tag = "ksweep");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + relative
  std::string Sub(std::string_view relative) const;

 private:
  std::string path_;
};

struct RunOptions {
  // The child (and its process group) is killed when it runs longer: a hang is reported, never waited out.
  std::chrono::milliseconds deadline{60000};
  // Run as this user and group (setgid/setuid in the child, supplementary groups dropped); needs root.
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  std::string stdin_data;

  static RunOptions WithDeadline(std::chrono::milliseconds d) {
    RunOptions o;
    o.deadline = d;
    return o;
  }
};

struct ProcessResult {
  int exit_code = -1;  // -1 unless the child exited normally
  int signal = 0;      // the signal that ended the child, 0 if none
  bool timed_out = false;
  std::string out;
  std::string err;
  std::string start_error;  // fork/exec could not run the command

  bool Exited(int code) const { return !timed_out && signal == 0 && start_error.empty() && exit_code == code; }
  // "exit 2" / "killed by signal 11" / "timed out", and stderr, for assertion messages.
  std::string Describe() const;
};

ProcessResult RunProcess(const std::vector<std::string>& argv, const RunOptions& options = {});

// A long-running child (a fake daemon). Killed and reaped by Stop() or the destructor.
class Child {
 public:
  Child() = default;
  ~Child() { Stop(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Starts argv[0] (a path) with stdio on /dev/null. Returns false and sets *error when it cannot.
  bool Start(const std::vector<std::string>& argv, std::string* error);
  pid_t pid() const { return pid_; }
  // SIGKILL and waitpid: when it returns, /proc/PID is gone.
  void Stop();

 private:
  pid_t pid_ = -1;
};

// Polls `condition` every few milliseconds until it holds or `deadline` passes; returns its last value.
bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds deadline = std::chrono::seconds(10));

// Files. Parents are created; failures throw std::runtime_error naming the path (a broken fixture, not a finding).
void MakeDirs(const std::string& path);
void WriteFile(const std::string& path, std::string_view content, mode_t mode = 0644);
std::string ReadFile(const std::string& path);
void Symlink(const std::string& target, const std::string& link);

// The agent under test and the source tree.
std::string AgentBinary();
std::string SourcePath(std::string_view relative);
// tests/fixtures/deb/make_deb_fixture.sh
std::string DebFixtureScript();

// Lowercase hex SHA-256 by the coreutils `sha256sum` (independent of the agent's OpenSSL code); empty on failure.
std::string Sha256Sum(const std::string& path);

// The proto JSON mapping back into a HostReport; unknown fields are refused so a schema drift shows.
bool ParseReport(const std::string& json, v1::HostReport* report, std::string* error);

struct AgentScan {
  ProcessResult process;
  v1::HostReport report;
  bool parsed = false;
  std::string parse_error;
};

// `ksweep-agent scan --root ROOT --json [extra...]`, parsed.
AgentScan ScanRoot(const std::string& root, const std::vector<std::string>& extra = {},
                   const RunOptions& options = {});

const v1::Finding* FindFinding(const v1::HostReport& report, std::string_view product_id);
const v1::ProbeRun* FindProbe(const v1::HostReport& report, std::string_view name);
// Evidence of `kind` in `finding`, nullptr when there is none.
const v1::Evidence* FindEvidence(const v1::Finding& finding, v1::EvidenceKind kind);
// Product ids, for messages: "kesl, klnagent".
std::string FindingIds(const v1::HostReport& report);
// Warnings, one a line, for messages.
std::string JoinWarnings(const v1::HostReport& report);
bool AnyWarningContains(const v1::HostReport& report, std::string_view needle);

}  // namespace ksweep::test
