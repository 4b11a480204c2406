#include "agent/daemon/state_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "agent/daemon/atomic_file.h"

namespace ksweep::agent {
namespace {

constexpr std::string_view kStateHeader = "ksweep-agent-state 1";

struct SavedState {
  uint64_t sequence = 0;
  uint64_t acked = 0;
};

// "sequence N" -> N, for the expected key only.
bool ParseLine(std::string_view line, std::string_view key, uint64_t* value) {
  if (line.size() <= key.size() + 1 || line.substr(0, key.size()) != key || line[key.size()] != ' ') return false;
  const std::string_view digits = line.substr(key.size() + 1);
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), *value);
  return ec == std::errc() && end == digits.data() + digits.size();
}

Result<SavedState> ParseState(const std::string& text, const std::string& path) {
  std::istringstream in(text);
  std::string header, sequence, acked, extra;
  SavedState state;
  if (!std::getline(in, header) || header != kStateHeader) {
    return Status::InvalidArgument("'" + path + "': first line is not '" + std::string(kStateHeader) + "'");
  }
  if (!std::getline(in, sequence) || !ParseLine(sequence, "sequence", &state.sequence)) {
    return Status::InvalidArgument("'" + path + "' line 2: expected 'sequence N'");
  }
  if (!std::getline(in, acked) || !ParseLine(acked, "acked", &state.acked)) {
    return Status::InvalidArgument("'" + path + "' line 3: expected 'acked N'");
  }
  if (std::getline(in, extra)) return Status::InvalidArgument("'" + path + "': unexpected line 4");
  if (state.acked > state.sequence) {
    return Status::InvalidArgument("'" + path + "': acked " + std::to_string(state.acked) + " is above sequence " +
                                   std::to_string(state.sequence));
  }
  return state;
}

std::string ReadPid(int fd) {
  char buffer[32] = {};
  const ssize_t n = ::pread(fd, buffer, sizeof buffer - 1, 0);
  if (n <= 0) return "unknown";
  std::string pid(buffer, static_cast<size_t>(n));
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid.empty() ? "unknown" : pid;
}

}  // namespace

Result<std::unique_ptr<StateStore>> StateStore::Open(const std::string& dir, const LoggerPtr& log) {
  if (dir.empty()) return Status::InvalidArgument("state folder: empty path");
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    // Only a folder made here gets 0700: an existing one may be shared, and its mode is its owner's business.
    const std::filesystem::path path(dir);
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
    if (ec || (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)) {
      return Status::IoError("state folder '" + dir + "': cannot create: " + (ec ? ec.message() : std::strerror(errno)));
    }
  }
  if (!std::filesystem::is_directory(dir, ec)) {
    return Status::InvalidArgument("state folder '" + dir + "' is not a folder");
  }

  const std::string lock_path = dir + "/lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IoError("state folder '" + dir + "': cannot open lock file: " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    const std::string holder = ReadPid(fd);
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return Status::Unavailable("state folder '" + dir + "' is in use by another ksweep-agent (pid " + holder + ")");
    }
    return Status::IoError("state folder '" + dir + "': cannot lock: " + std::strerror(err));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    const int err = errno;
    ::close(fd);
    return Status::IoError("state folder '" + dir + "': cannot write lock file: " + std::strerror(err));
  }

  std::unique_ptr<StateStore> store(new StateStore(dir, fd, log));
  store->Load();
  // Proves the folder is writable now rather than at the first report.
  if (Status status = store->SaveState(); !status.ok()) return status;
  return store;
}

StateStore::StateStore(std::string dir, int lock_fd, LoggerPtr log)
    : dir_(std::move(dir)), lock_fd_(lock_fd), log_(std::move(log)) {}

StateStore::~StateStore() { ::close(lock_fd_); }

void StateStore::SetAside(const std::string& path, const std::string& why) const {
  const std::string aside = path + ".corrupt";
  const bool moved = ::rename(path.c_str(), aside.c_str()) == 0;
  log_->warn("event=state_file_corrupt path={} reason=\"{}\" moved_to={}", path, why, moved ? aside : "(not moved)");
}

void StateStore::Load() {
  SavedState saved;
  const std::string state_path = dir_ + "/state";
  if (auto text = ReadSmallFile(state_path, kMaxStateFileBytes); text.ok()) {
    if (auto parsed = ParseState(*text, state_path); parsed.ok()) {
      saved = *parsed;
    } else {
      SetAside(state_path, parsed.status().message());
    }
  } else if (text.status().code() != Status::Code::kNotFound) {
    SetAside(state_path, text.status().message());
  }

  const std::string report_path = dir_ + "/last_report.pb";
  if (auto bytes = ReadSmallFile(report_path, kMaxReportFileBytes); bytes.ok()) {
    v1::Report report;
    if (report.ParseFromString(*bytes) && report.sequence() > 0) {
      latest_ = std::move(report);
    } else {
      SetAside(report_path, "not a report with a sequence number");
    }
  } else if (bytes.status().code() != Status::Code::kNotFound) {
    SetAside(report_path, bytes.status().message());
  }

  // The report file is written before the state file, so after a crash between the two it holds the newer number.
  sequence_ = std::max(saved.sequence, latest_ ? latest_->sequence() : 0);
  acked_ = saved.acked;
  log_->info("event=state_loaded dir={} sequence={} acked={} latest={}", dir_, sequence_, acked_,
             latest_ ? latest_->sequence() : 0);
}

Status StateStore::SaveState() const {
  const std::string text = std::string(kStateHeader) + "\nsequence " + std::to_string(sequence_) + "\nacked " +
                           std::to_string(acked_) + "\n";
  return WriteFileAtomic(dir_ + "/state", text);
}

Result<v1::Report> StateStore::Stage(const v1::HostReport& report, const google::protobuf::Timestamp& agent_time) {
  v1::Report staged;
  staged.set_sequence(sequence_ + 1);
  *staged.mutable_report() = report;
  *staged.mutable_agent_time() = agent_time;
  std::string bytes;
  if (!staged.SerializeToString(&bytes)) return Status::Internal("cannot serialise report " + std::to_string(sequence_ + 1));
  if (bytes.size() > kMaxReportFileBytes) {
    return Status::InvalidArgument("report of " + std::to_string(bytes.size()) + " bytes is larger than the limit of " +
                                   std::to_string(kMaxReportFileBytes));
  }
  if (Status status = WriteFileAtomic(dir_ + "/last_report.pb", bytes); !status.ok()) return status;
  // From here the number is on disk (Load takes the larger of both files): never hand it out again.
  sequence_ = staged.sequence();
  latest_ = staged;
  if (Status status = SaveState(); !status.ok()) return status;
  return staged;
}

std::vector<v1::Report> StateStore::ReportsAfter(uint64_t sequence) const {
  std::vector<v1::Report> reports;
  if (latest_ && latest_->sequence() > sequence) reports.push_back(*latest_);
  return reports;
}

Status StateStore::Ack(uint64_t sequence) {
  if (sequence > sequence_) {
    return Status::InvalidArgument("ack of sequence " + std::to_string(sequence) + " that this agent never issued (last " +
                                   std::to_string(sequence_) + ")");
  }
  if (sequence <= acked_) return Status::Ok();
  acked_ = sequence;
  return SaveState();
}

Status StateStore::AdvanceSequence(uint64_t sequence) {
  if (sequence <= sequence_) return Status::Ok();
  sequence_ = sequence;
  acked_ = sequence;
  return SaveState();
}

}  // namespace ksweep::agent
