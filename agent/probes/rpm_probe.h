// The rpm probe's pieces, apart so tests can drive each one: where the database is, the native SQLite reader,
// the fallback through the host's own `rpm` binary for Berkeley DB and NDB databases, and the child-process runner.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "agent/probe.h"
#include "agent/probes/rpm_header.h"

namespace ksweep::agent {

struct RpmProbeOptions {
  // The host's rpm, for databases ksweep does not read itself; a bare name is looked up in PATH.
  std::string rpm_binary = "rpm";
  // Read even an rpmdb.sqlite through `rpm` (tests compare both readers on one database).
  bool force_rpm_command = false;
  // WAL readers are rarely blocked; this bounds the wait when a writer holds an exclusive lock.
  std::chrono::milliseconds sqlite_busy_timeout{2000};
  // Far above any real system (a full Fedora desktop has ~3,000 packages); bounds memory on a hostile image.
  int max_packages = 100000;
  // `rpm -qa` prints ~100 bytes a package.
  size_t max_rpm_output_bytes = 16u * 1024 * 1024;
};

// MakeRpmProbe() (probe_registry.h) with default options; not an overload, so &MakeRpmProbe stays unambiguous.
ProbePtr MakeRpmProbeWith(RpmProbeOptions options);

enum class RpmDbFormat { kSqlite, kNdb, kBerkeley };

struct RpmDbLocation {
  std::string inside;  // the database file as the scanned system names it, e.g. /var/lib/rpm/rpmdb.sqlite
  std::string host;    // the same file on this machine, symlinks resolved inside the root
  RpmDbFormat format = RpmDbFormat::kSqlite;
};

// The database rpm would use: rpmdb.sqlite before the legacy formats, /usr/lib/sysimage/rpm before /var/lib/rpm.
// Other databases found are named in `warnings`. Unavailable when there is none.
Result<RpmDbLocation> FindRpmDb(const Root& root, std::vector<std::string>* warnings);

// Reads every header of an rpmdb.sqlite and appends one observation per package to `result` (items counts rows).
Status ReadRpmSqlite(const Root& root, const RpmDbLocation& db, const RpmProbeOptions& options,
                     ProbeResult* result);

// Reads the database through `rpm --dbpath DIR -qa` with the backend named by db.format.
Status ReadRpmCommand(const RpmDbLocation& db, const RpmProbeOptions& options, std::chrono::milliseconds timeout,
                      ProbeResult* result);

// The same observation whichever reader saw the package.
Observation RpmObservation(const RpmHeaderView& header, std::string_view db_path);

struct CommandOutput {
  int exit_code = 0;  // when the child exited normally
  int signal = 0;     // when a signal ended it
  std::string out;
  std::string err;  // the first `max_stderr` bytes
};

struct CommandOptions {
  std::chrono::milliseconds timeout{10000};
  size_t max_stdout = 16u * 1024 * 1024;
  size_t max_stderr = 64u * 1024;
  int child_fd3 = -1;  // when set, the child gets this descriptor as its fd 3
};

// Runs argv without a shell (argv[0] looked up in PATH), stdin from /dev/null, no other descriptor than 0-2 (and 3
// when asked), LC_ALL=C, in its own process group. Over the timeout or the stdout limit the whole group is killed and
// the result is Timeout / IoError. A missing program is NotFound. A non-zero exit is not an error here: the caller
// reads exit_code.
Result<CommandOutput> RunCommand(const std::vector<std::string>& argv, const CommandOptions& options);

}  // namespace ksweep::agent
