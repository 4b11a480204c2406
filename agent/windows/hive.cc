#include "agent/windows/hive.h"

#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "agent/windows/regf.h"
#include "agent/windows/utf16.h"

namespace ksweep::agent {
namespace {

constexpr size_t kChecksumOffset = 0x1FC;
constexpr size_t kMajorOffset = 0x14;
constexpr size_t kMinorOffset = 0x18;
constexpr size_t kRootOffset = 0x24;
constexpr size_t kBinsSizeOffset = 0x28;
constexpr size_t kBinBytes = 4096;
// A cell is a record or a value's data: lists of a 16-bit count of 8-byte entries are the largest records.
constexpr uint32_t kMaxCellBytes = 1024 * 1024;
// A key's own counts: Windows keeps far fewer (a real SOFTWARE's largest key, Classes, has some 10,000 subkeys).
constexpr uint32_t kMaxSubkeys = 500'000;
constexpr uint32_t kMaxValues = 100'000;
constexpr uint32_t kRegSz = 1;
constexpr uint32_t kRegExpandSz = 2;
constexpr uint32_t kRegDword = 4;

uint32_t Le32(std::string_view bytes, size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + at);
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}

std::string Hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string Printable(std::string_view bytes) {
  std::string out;
  for (char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F) {
      out.push_back(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    }
  }
  return out;
}

bool SameName(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// A REG_SZ's UTF-16LE up to its first NUL character, as UTF-8.
std::string StringData(std::string_view data) {
  size_t end = 0;
  while (end + 1 < data.size() && (data[end] != '\0' || data[end + 1] != '\0')) end += 2;
  return Utf16leToUtf8(data.substr(0, end));
}

}  // namespace

// The hive file, read at offsets through a small direct-mapped page cache: memory stays bounded however large the
// hive, and the pages a walk comes back to (a key's list, its parent) are read once.
class Hive::File {
 public:
  explicit File(int fd) : fd_(fd) {}
  ~File() { ::close(fd_); }
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  // Exactly `len` bytes at `offset`, or an error.
  Status Read(uint64_t offset, size_t len, std::string* out) {
    out->clear();
    out->reserve(len);
    while (out->size() < len) {
      const uint64_t at = offset + out->size();
      const uint64_t page = at / kPageBytes;
      Slot& slot = slots_[page % kSlots];
      if (slot.page != page) {
        slot.page = page;
        slot.len = 0;
        while (slot.len < kPageBytes) {
          const ssize_t n = ::pread(fd_, slot.bytes.data() + slot.len, kPageBytes - slot.len,
                                    static_cast<off_t>(page * kPageBytes + slot.len));
          if (n < 0 && errno == EINTR) continue;
          if (n < 0) {
            const int err = errno;
            slot.page = kNoPage;
            return Status::IoError(std::strerror(err));
          }
          if (n == 0) break;
          slot.len += static_cast<size_t>(n);
        }
      }
      const size_t into = static_cast<size_t>(at - page * kPageBytes);
      if (into >= slot.len) return Status::InvalidArgument("the file ends at " + Hex(page * kPageBytes + slot.len));
      const size_t take = std::min(len - out->size(), slot.len - into);
      out->append(slot.bytes.data() + into, take);
    }
    return Status::Ok();
  }

 private:
  static constexpr size_t kPageBytes = 4096;
  static constexpr size_t kSlots = 256;  // 1 MiB
  static constexpr uint64_t kNoPage = ~uint64_t{0};
  struct Slot {
    uint64_t page = kNoPage;
    size_t len = 0;
    std::array<char, kPageBytes> bytes{};
  };
  int fd_;
  std::array<Slot, kSlots> slots_{};
};

Status CheckHiveBaseBlock(std::string_view base, uint64_t file_size) {
  if (file_size == 0) return Status::InvalidArgument("empty file (0 bytes), not a registry hive");
  if (base.size() >= 4 && base.substr(0, 4) != "regf") {
    return Status::InvalidArgument("not a registry hive: starts with '" + Printable(base.substr(0, 4)) +
                                   "', not 'regf'");
  }
  if (file_size < regf::kBaseBlockBytes + kBinBytes || base.size() < regf::kBaseBlockBytes) {
    return Status::InvalidArgument("truncated: " + std::to_string(file_size) +
                                   " bytes, less than a base block and one hive bin (8192 bytes)");
  }
  const uint32_t major = Le32(base, kMajorOffset);
  if (major != 1) {
    return Status::InvalidArgument("registry format version " + std::to_string(major) + "." +
                                   std::to_string(Le32(base, kMinorOffset)) + " is not supported (1.x is)");
  }
  uint32_t sum = 0;
  for (size_t at = 0; at < kChecksumOffset; at += 4) sum ^= Le32(base, at);
  if (sum != Le32(base, kChecksumOffset)) {
    return Status::InvalidArgument("corrupt base block: checksum " + Hex(Le32(base, kChecksumOffset)) +
                                   ", computed " + Hex(sum));
  }
  const uint64_t bins = Le32(base, kBinsSizeOffset);
  if (bins == 0 || bins % kBinBytes != 0) {
    return Status::InvalidArgument("corrupt base block: hive bins size " + Hex(bins) + " is not a multiple of 4096");
  }
  if (regf::kBaseBlockBytes + bins > file_size) {
    return Status::InvalidArgument("truncated: the base block declares " + std::to_string(bins) +
                                   " bytes of hive bins, the file holds " +
                                   std::to_string(file_size - regf::kBaseBlockBytes));
  }
  if (Le32(base, kRootOffset) >= bins) {
    return Status::InvalidArgument("corrupt base block: root key offset " + Hex(Le32(base, kRootOffset)) +
                                   " lies outside the hive bins");
  }
  return Status::Ok();
}

std::optional<std::string> HiveValues::String(std::string_view name) const {
  const Value* v = Find(name);
  return v == nullptr ? std::nullopt : v->text;
}

std::optional<uint32_t> HiveValues::Dword(std::string_view name) const {
  const Value* v = Find(name);
  return v == nullptr ? std::nullopt : v->dword;
}

const HiveValues::Value* HiveValues::Find(std::string_view name) const {
  for (const auto& v : values_) {
    if (SameName(v.name, name)) return &v;
  }
  return nullptr;
}

Result<std::unique_ptr<Hive>> Hive::Open(const Root& root, std::string_view inside) {
  const std::string file(inside);
  auto host = root.Resolve(inside);
  if (!host.ok()) return host.status();
  const int fd = ::open(host->c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return Status::NotFound(file + ": " + std::strerror(err));
    return Status::IoError(file + ": " + std::strerror(err));
  }
  auto opened = std::make_unique<File>(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Status::IoError(file + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(file + ": not a regular file");
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > kMaxHiveBytes) {
    return Status::InvalidArgument(file + ": " + std::to_string(size) + " bytes, larger than the limit of " +
                                   std::to_string(kMaxHiveBytes));
  }
  std::string base;
  Status read = opened->Read(0, std::min<uint64_t>(size, regf::kBaseBlockBytes), &base);
  if (!read.ok()) return Status::IoError(file + ": " + read.message());
  if (Status s = CheckHiveBaseBlock(base, size); !s.ok()) return Status::InvalidArgument(file + ": " + s.message());
  std::string bin;
  if (Status s = opened->Read(regf::kBaseBlockBytes, 8, &bin); !s.ok() || bin.substr(0, 4) != "hbin" ||
                                                                 Le32(bin, 4) != 0) {
    return Status::InvalidArgument(file + ": corrupt hive bins: no hive bin header after the base block");
  }
  std::unique_ptr<Hive> hive(new Hive(std::move(opened), file, Le32(base, kBinsSizeOffset), Le32(base, kRootOffset)));
  auto root_cell = hive->Cell(hive->root_offset_);
  if (!root_cell.ok()) return Status::InvalidArgument(file + ": root key: " + root_cell.status().message());
  if (auto node = regf::ParseKeyNode(*root_cell); !node.ok()) {
    return Status::InvalidArgument(file + ": root key: " + node.status().message());
  }
  return hive;
}

Hive::Hive(std::unique_ptr<File> file, std::string path, uint32_t bins_size, uint32_t root_offset)
    : file_(std::move(file)), path_(std::move(path)), bins_size_(bins_size), root_offset_(root_offset) {}

Hive::~Hive() = default;

Result<std::string> Hive::Cell(uint32_t offset) {
  if (offset % 4 != 0 || offset >= bins_size_ || bins_size_ - offset < 8) {
    return Status::InvalidArgument("offset " + Hex(offset) + " is not a cell of the hive bins");
  }
  std::string head;
  if (Status s = file_->Read(regf::kBaseBlockBytes + offset, 4, &head); !s.ok()) return s;
  const auto size = static_cast<int32_t>(Le32(head, 0));
  // A used cell's size is negative; a positive one is free space.
  if (size >= 0) return Status::InvalidArgument("offset " + Hex(offset) + " points at free space");
  const uint64_t length = static_cast<uint64_t>(-static_cast<int64_t>(size));
  if (length < 8 || length > kMaxCellBytes || offset + length > bins_size_) {
    return Status::InvalidArgument("cell at " + Hex(offset) + " claims " + std::to_string(length) + " bytes");
  }
  std::string payload;
  if (Status s = file_->Read(regf::kBaseBlockBytes + offset + 4, static_cast<size_t>(length - 4), &payload);
      !s.ok()) {
    return s;
  }
  return payload;
}

Result<std::string> Hive::Data(const regf::ValueNode& value) {
  if (value.inline_data) {
    std::string data(4, '\0');
    for (size_t i = 0; i < 4; ++i) data[i] = static_cast<char>(value.data_offset >> (8 * i));
    data.resize(value.data_size);
    return data;
  }
  auto cell = Cell(value.data_offset);
  if (!cell.ok()) return cell.status();
  auto big = regf::ParseBigData(*cell);
  if (!big.ok()) {
    if (cell->size() < value.data_size) return Status::InvalidArgument("data cell shorter than the value's size");
    cell->resize(value.data_size);
    return cell;
  }
  // Format 1.4 and later: data larger than one cell is a list of segments.
  auto list = Cell(big->segment_list);
  if (!list.ok()) return list.status();
  auto segments = regf::ParseOffsets(*list, big->segments);
  if (!segments.ok()) return segments.status();
  std::string data;
  for (uint32_t segment : *segments) {
    auto bytes = Cell(segment);
    if (!bytes.ok()) return bytes.status();
    data.append(*bytes, 0, std::min<size_t>(bytes->size(), regf::kMaxDirectDataBytes));
    if (data.size() >= value.data_size) break;
  }
  if (data.size() < value.data_size) return Status::InvalidArgument("big-data segments hold less than its size");
  data.resize(value.data_size);
  return data;
}

Status Hive::Error(const HiveKey& key, std::string_view what) const {
  return Status::InvalidArgument(path_ + ": key " + (key.path.empty() ? std::string("\\") : key.path) + ": " +
                                 std::string(what));
}

HiveKey Hive::root() const {
  HiveKey key;
  key.node = root_offset_;
  return key;
}

Result<std::vector<HiveKey>> Hive::Children(const HiveKey& key) {
  if (key.lineage.size() >= kMaxHiveKeyDepth) {
    return Error(key, "deeper than " + std::to_string(kMaxHiveKeyDepth) + " keys");
  }
  auto cell = Cell(static_cast<uint32_t>(key.node));
  if (!cell.ok()) return Error(key, cell.status().message());
  auto node = regf::ParseKeyNode(*cell);
  if (!node.ok()) return Error(key, node.status().message());
  std::vector<HiveKey> children;
  if (node->subkey_count == 0) return children;
  if (node->subkey_count > kMaxSubkeys) {
    return Error(key, std::to_string(node->subkey_count) + " subkeys, more than the limit of " +
                          std::to_string(kMaxSubkeys));
  }
  // The subkey offsets: one list, or an index (ri) of lists.
  std::vector<uint32_t> offsets;
  auto list_cell = Cell(node->subkey_list);
  if (!list_cell.ok()) return Error(key, "subkey list: " + list_cell.status().message());
  auto list = regf::ParseSubkeyList(*list_cell);
  if (!list.ok()) return Error(key, list.status().message());
  if (!list->index_root) {
    offsets = std::move(list->offsets);
  } else {
    for (uint32_t sub : list->offsets) {
      auto sub_cell = Cell(sub);
      if (!sub_cell.ok()) return Error(key, "subkey list: " + sub_cell.status().message());
      auto sub_list = regf::ParseSubkeyList(*sub_cell);
      if (!sub_list.ok()) return Error(key, sub_list.status().message());
      if (sub_list->index_root) return Error(key, "an index of subkey lists lists another index");
      offsets.insert(offsets.end(), sub_list->offsets.begin(), sub_list->offsets.end());
      if (offsets.size() > node->subkey_count) break;
    }
  }
  if (offsets.size() != node->subkey_count) {
    return Error(key, "its subkey lists hold " + std::to_string(offsets.size()) + " entries, its count says " +
                          std::to_string(node->subkey_count));
  }
  for (uint32_t offset : offsets) {
    if (++visited_ > kMaxHiveKeysVisited) {
      return Error(key, "more than " + std::to_string(kMaxHiveKeysVisited) + " keys visited in one hive");
    }
    HiveKey child;
    child.node = offset;
    child.lineage = key.lineage;
    child.lineage.push_back(key.node);
    for (size_t above : child.lineage) {
      if (above == child.node) {
        return Error(key, "lists the key at " + Hex(child.node) +
                              ", which is itself or one of its parents, as a subkey (cyclic offsets)");
      }
    }
    auto child_cell = Cell(offset);
    if (!child_cell.ok()) return Error(key, "subkey: " + child_cell.status().message());
    auto child_node = regf::ParseKeyNode(*child_cell);
    if (!child_node.ok()) return Error(key, "subkey at " + Hex(offset) + ": " + child_node.status().message());
    child.name = std::move(child_node->name);
    child.path = key.path + "\\" + child.name;
    children.push_back(std::move(child));
  }
  return children;
}

Result<std::optional<HiveKey>> Hive::Find(const HiveKey& from, std::string_view path) {
  HiveKey at = from;
  while (!path.empty()) {
    const size_t sep = path.find('\\');
    const std::string_view want = path.substr(0, sep);
    path = sep == std::string_view::npos ? std::string_view() : path.substr(sep + 1);
    if (want.empty()) continue;
    auto children = Children(at);
    if (!children.ok()) return children.status();
    bool found = false;
    for (auto& child : *children) {
      if (SameName(child.name, want)) {
        at = std::move(child);
        found = true;
        break;
      }
    }
    if (!found) return std::optional<HiveKey>();
  }
  return std::optional<HiveKey>(std::move(at));
}

Result<HiveValues> Hive::Values(const HiveKey& key, std::span<const std::string_view> wanted) {
  auto cell = Cell(static_cast<uint32_t>(key.node));
  if (!cell.ok()) return Error(key, cell.status().message());
  auto node = regf::ParseKeyNode(*cell);
  if (!node.ok()) return Error(key, node.status().message());
  HiveValues out;
  if (node->value_count == 0) return out;
  if (node->value_count > kMaxValues) {
    return Error(key, std::to_string(node->value_count) + " values, more than the limit of " +
                          std::to_string(kMaxValues));
  }
  auto list_cell = Cell(node->value_list);
  if (!list_cell.ok()) return Error(key, "value list: " + list_cell.status().message());
  auto offsets = regf::ParseOffsets(*list_cell, node->value_count);
  if (!offsets.ok()) return Error(key, "value list: " + offsets.status().message());
  for (uint32_t offset : *offsets) {
    auto value_cell = Cell(offset);
    if (!value_cell.ok()) return Error(key, "value: " + value_cell.status().message());
    auto value = regf::ParseValueNode(*value_cell);
    if (!value.ok()) return Error(key, "value at " + Hex(offset) + ": " + value.status().message());
    bool is_wanted = false;
    for (std::string_view w : wanted) is_wanted = is_wanted || SameName(w, value->name);
    if (!is_wanted) continue;
    HiveValues::Value v;
    v.name = value->name;
    const bool text = value->type == kRegSz || value->type == kRegExpandSz;
    if ((text && value->data_size <= kMaxHiveStringBytes) || (value->type == kRegDword && value->data_size == 4)) {
      auto data = Data(*value);
      if (!data.ok()) return Error(key, "value '" + value->name + "': " + data.status().message());
      if (text) {
        v.text = StringData(*data);
      } else {
        v.dword = Le32(*data, 0);
      }
    }
    out.values_.push_back(std::move(v));
  }
  return out;
}

}  // namespace ksweep::agent
