#include "agent/daemon/state_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <tuple>

#include "common/atomic_file.h"

namespace ksweep::agent {
namespace {

constexpr std::string_view kStateHeader = "ksweep-agent-state 1";
constexpr std::string_view kRecordMagic = "ksweep-spool 1";
// The header line is short; a longer first line is not a record.
constexpr size_t kMaxRecordHeader = 160;
constexpr std::string_view kChangeSuffix = ".change";
constexpr std::string_view kTempSuffix = ".tmp";

std::string_view KindName(SpoolKind kind) { return kind == SpoolKind::kSnapshot ? "snapshot" : "change"; }

std::string Hex(const unsigned char* bytes, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[bytes[i] >> 4]);
    out.push_back(kDigits[bytes[i] & 0xf]);
  }
  return out;
}

// SHA-256 over the header fields and the payload: a record renamed to another sequence or kind fails too.
std::string RecordDigest(std::string_view fields, std::string_view payload) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
                  EVP_DigestUpdate(ctx, fields.data(), fields.size()) == 1 &&
                  EVP_DigestUpdate(ctx, "\n", 1) == 1 && EVP_DigestUpdate(ctx, payload.data(), payload.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx, digest, &length) == 1;
  EVP_MD_CTX_free(ctx);
  return ok ? Hex(digest, length) : std::string();
}

bool ParseU64(std::string_view text, uint64_t* value) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

// "00000000000000000042.change" -> 42.
bool ChangeFileSequence(std::string_view name, uint64_t* sequence) {
  if (name.size() <= kChangeSuffix.size() || name.substr(name.size() - kChangeSuffix.size()) != kChangeSuffix) {
    return false;
  }
  return ParseU64(name.substr(0, name.size() - kChangeSuffix.size()), sequence);
}

// What history compares: product, state, version, broken. Sorted, so finding order does not matter.
std::vector<std::tuple<std::string, int, std::string, bool>> ProductStates(const v1::HostReport& report) {
  std::vector<std::tuple<std::string, int, std::string, bool>> states;
  for (const auto& f : report.findings()) states.emplace_back(f.product_id(), f.state(), f.version(), f.broken());
  std::sort(states.begin(), states.end());
  return states;
}

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

std::string EncodeSpoolRecord(SpoolKind kind, const v1::Report& report) {
  std::string payload;
  report.SerializeToString(&payload);
  const std::string fields = std::string(kRecordMagic) + " " + std::string(KindName(kind)) + " " +
                             std::to_string(report.sequence()) + " " + std::to_string(payload.size());
  return fields + " " + RecordDigest(fields, payload) + "\n" + payload;
}

Result<v1::Report> DecodeSpoolRecord(std::string_view bytes, SpoolKind kind, const std::string& path) {
  const size_t newline = bytes.substr(0, kMaxRecordHeader).find('\n');
  if (newline == std::string_view::npos) {
    return Status::InvalidArgument("'" + path + "': no spool record header (truncated or not a spool file)");
  }
  const std::string_view header = bytes.substr(0, newline);
  const std::string_view payload = bytes.substr(newline + 1);
  // "ksweep-spool 1 KIND SEQUENCE LENGTH DIGEST"
  const size_t digest_at = header.rfind(' ');
  if (header.substr(0, kRecordMagic.size() + 1) != std::string(kRecordMagic) + " " || digest_at == header.npos) {
    return Status::InvalidArgument("'" + path + "': header does not start with '" + std::string(kRecordMagic) + "'");
  }
  const std::string_view fields = header.substr(0, digest_at);
  const std::string_view digest = header.substr(digest_at + 1);
  std::istringstream in{std::string(fields.substr(kRecordMagic.size() + 1))};
  std::string kind_text, sequence_text, length_text, extra;
  uint64_t sequence = 0, length = 0;
  if (!(in >> kind_text >> sequence_text >> length_text) || (in >> extra) || !ParseU64(sequence_text, &sequence) ||
      !ParseU64(length_text, &length)) {
    return Status::InvalidArgument("'" + path + "': malformed header '" + std::string(header) + "'");
  }
  if (kind_text != KindName(kind)) {
    return Status::InvalidArgument("'" + path + "': a " + kind_text + " record where a " +
                                   std::string(KindName(kind)) + " was expected");
  }
  if (length != payload.size()) {
    return Status::InvalidArgument("'" + path + "': header says " + std::to_string(length) + " bytes, " +
                                   std::to_string(payload.size()) + " follow (truncated or appended to)");
  }
  if (RecordDigest(fields, payload) != digest) {
    return Status::InvalidArgument("'" + path + "': SHA-256 does not match the content");
  }
  v1::Report report;
  if (!report.ParseFromArray(payload.data(), static_cast<int>(payload.size())) || report.sequence() != sequence ||
      sequence == 0) {
    return Status::InvalidArgument("'" + path + "': payload is not the report with sequence " +
                                   std::to_string(sequence));
  }
  return report;
}

v1::Report ChangeRecordOf(const v1::Report& report) {
  v1::Report record;
  record.set_sequence(report.sequence());
  *record.mutable_agent_time() = report.agent_time();
  const v1::HostReport& from = report.report();
  v1::HostReport* to = record.mutable_report();
  *to->mutable_host() = from.host();
  to->set_verdict(from.verdict());
  *to->mutable_scanned_at() = from.scanned_at();
  to->set_agent_version(from.agent_version());
  to->set_rules_version(from.rules_version());
  for (const auto& finding : from.findings()) {
    v1::Finding* f = to->add_findings();
    *f = finding;
    f->clear_evidence();
  }
  return record;
}

bool SameProductStates(const v1::HostReport& a, const v1::HostReport& b) {
  return a.verdict() == b.verdict() && ProductStates(a) == ProductStates(b);
}

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
    if (bytes->rfind(kRecordMagic, 0) == 0) {
      if (auto report = DecodeSpoolRecord(*bytes, SpoolKind::kSnapshot, report_path); report.ok()) {
        latest_ = std::move(*report);
      } else {
        SetAside(report_path, report.status().message());
      }
    } else {
      // Written by an agent from before the spool: a bare serialised report.
      v1::Report report;
      if (report.ParseFromString(*bytes) && report.sequence() > 0) {
        latest_ = std::move(report);
      } else {
        SetAside(report_path, "not a spool record nor a report with a sequence number");
      }
    }
  } else if (bytes.status().code() != Status::Code::kNotFound) {
    SetAside(report_path, bytes.status().message());
  }
  LoadChanges();

  // Files are written before the state file, so after a crash between them they hold the newer number.
  sequence_ = std::max(saved.sequence, latest_ ? latest_->sequence() : 0);
  if (!changes_.empty()) sequence_ = std::max(sequence_, changes_.back().sequence());
  acked_ = std::min(saved.acked, sequence_);
  // A change record at or above the latest report was written just before a newer latest that never made it: the
  // latest report covers it.
  while (!changes_.empty() && latest_ && changes_.back().sequence() >= latest_->sequence()) {
    RemoveChangeFile(changes_.back().sequence());
    changes_.pop_back();
  }
  DropAcknowledged();
  log_->info("event=state_loaded dir={} sequence={} acked={} latest={} change_records={}", dir_, sequence_, acked_,
             latest_ ? latest_->sequence() : 0, changes_.size());
}

void StateStore::LoadChanges() {
  const std::string spool = dir_ + "/spool";
  if (::mkdir(spool.c_str(), 0700) != 0 && errno != EEXIST) {
    log_->warn("event=spool_unavailable path={} error=\"{}\"", spool, std::strerror(errno));
    return;
  }
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(spool, ec)) {
    const std::string name = entry.path().filename().string();
    const std::string path = entry.path().string();
    uint64_t sequence = 0;
    if (name.size() > kTempSuffix.size() && name.substr(name.size() - kTempSuffix.size()) == kTempSuffix) {
      // A write the agent died in: the rename never happened, so nothing relied on it.
      ::unlink(path.c_str());
      continue;
    }
    if (!ChangeFileSequence(name, &sequence)) continue;  // *.corrupt and anything else a person put there
    auto bytes = ReadSmallFile(path, kMaxSpoolChangeBytes);
    if (!bytes.ok()) {
      SetAside(path, bytes.status().message());
      continue;
    }
    auto record = DecodeSpoolRecord(*bytes, SpoolKind::kChange, path);
    if (!record.ok()) {
      SetAside(path, record.status().message());
    } else if (record->sequence() != sequence) {
      SetAside(path, "holds sequence " + std::to_string(record->sequence()) + ", not the one in its name");
    } else {
      changes_.push_back(std::move(*record));
    }
  }
  if (ec) log_->warn("event=spool_unreadable path={} error=\"{}\"", spool, ec.message());
  std::sort(changes_.begin(), changes_.end(),
            [](const v1::Report& a, const v1::Report& b) { return a.sequence() < b.sequence(); });
}

std::string StateStore::ChangePath(uint64_t sequence) const {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu", static_cast<unsigned long long>(sequence));
  return dir_ + "/spool/" + name + std::string(kChangeSuffix);
}

void StateStore::RemoveChangeFile(uint64_t sequence) const {
  const std::string path = ChangePath(sequence);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    log_->warn("event=spool_remove_failed path={} error=\"{}\"", path, std::strerror(errno));
  }
}

Status StateStore::WriteChange(const v1::Report& record) {
  if (::mkdir((dir_ + "/spool").c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::IoError("spool folder '" + dir_ + "/spool': cannot create: " + std::strerror(errno));
  }
  return WriteFileAtomic(ChangePath(record.sequence()), EncodeSpoolRecord(SpoolKind::kChange, record));
}

void StateStore::DropAcknowledged() {
  // History is compared against the newest record the collector has: keep that one, drop those below it.
  uint64_t keep_from = 0;
  if (latest_ && latest_->sequence() <= acked_) {
    keep_from = latest_->sequence();
  } else {
    for (const auto& record : changes_) {
      if (record.sequence() <= acked_) keep_from = record.sequence();
    }
  }
  while (!changes_.empty() && changes_.front().sequence() < keep_from) {
    RemoveChangeFile(changes_.front().sequence());
    changes_.erase(changes_.begin());
  }
}

void StateStore::EnforceBound() {
  for (;;) {
    size_t count = 0, bytes = 0;
    auto oldest = changes_.end();
    for (auto it = changes_.begin(); it != changes_.end(); ++it) {
      if (it->sequence() <= acked_) continue;
      if (oldest == changes_.end()) oldest = it;
      ++count;
      bytes += it->ByteSizeLong();
    }
    if (count <= kMaxSpoolChanges && bytes <= kMaxSpoolChangeBytes) return;
    log_->warn("event=spool_change_dropped sequence={} change_records={} bytes={} limit_records={} limit_bytes={} "
               "note=\"the collector has been away too long: this transition will be missing from its history\"",
               oldest->sequence(), count, bytes, kMaxSpoolChanges, kMaxSpoolChangeBytes);
    RemoveChangeFile(oldest->sequence());
    changes_.erase(oldest);
  }
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
  const std::string record = EncodeSpoolRecord(SpoolKind::kSnapshot, staged);
  if (record.size() > kMaxReportFileBytes) {
    return Status::InvalidArgument("report of " + std::to_string(record.size()) +
                                   " bytes is larger than the limit of " + std::to_string(kMaxReportFileBytes));
  }
  // The report being replaced stays as a change record when the collector needs it for history: unacknowledged
  // and saying something new about products, or acknowledged (then it is what the next change is compared with).
  std::optional<v1::Report> leaving;
  if (latest_) {
    const bool acked = latest_->sequence() <= acked_;
    const bool news = changes_.empty() || !SameProductStates(changes_.back().report(), latest_->report());
    if (acked || news) leaving = ChangeRecordOf(*latest_);
  }
  if (leaving) {
    if (Status status = WriteChange(*leaving); !status.ok()) return status;
  }
  if (Status status = WriteFileAtomic(dir_ + "/last_report.pb", record); !status.ok()) {
    if (leaving) RemoveChangeFile(leaving->sequence());
    return status;
  }
  // From here the number is on disk (Load takes the largest): never hand it out again.
  sequence_ = staged.sequence();
  latest_ = staged;
  if (leaving) {
    changes_.push_back(std::move(*leaving));
    DropAcknowledged();
    EnforceBound();
  }
  if (Status status = SaveState(); !status.ok()) return status;
  return staged;
}

std::vector<v1::Report> StateStore::ReportsAfter(uint64_t sequence) const {
  std::vector<v1::Report> reports;
  for (const auto& record : changes_) {
    if (record.sequence() > sequence) reports.push_back(record);
  }
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
  Status status = SaveState();
  DropAcknowledged();
  return status;
}

Status StateStore::AdvanceSequence(uint64_t sequence) {
  if (sequence <= sequence_) return Status::Ok();
  sequence_ = sequence;
  acked_ = sequence;
  Status status = SaveState();
  DropAcknowledged();
  return status;
}

}  // namespace ksweep::agent
