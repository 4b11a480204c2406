#include "agent/windows/hive.h"

#include <fcntl.h>
#include <hivex.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ksweep::agent {
namespace {

// The REGF base block (libyal's "Windows NT Registry File (REGF) format", hivex's lib/hivex-internal.h).
constexpr size_t kBaseBlockBytes = 4096;
constexpr size_t kChecksumOffset = 0x1FC;
constexpr size_t kMajorOffset = 0x14;
constexpr size_t kMinorOffset = 0x18;
constexpr size_t kRootOffset = 0x24;
constexpr size_t kBinsSizeOffset = 0x28;
constexpr size_t kBinBytes = 4096;

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

// hivex reports through errno; these are the meanings its sources give them.
std::string Reason(int err) {
  switch (err) {
    case EFAULT: return "an offset points outside the hive's cells";
    case ENOTSUP: return "a record is corrupt or of an unknown kind";
    case ERANGE: return "more subkeys or values than hivex accepts";
    case EINVAL: return "a record is not what its offset says";
    case ENOMEM: return "out of memory";
    default: return std::strerror(err);
  }
}

bool SameName(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
template <typename T>
using Malloced = std::unique_ptr<T, FreeDeleter>;

}  // namespace

Status CheckHiveBaseBlock(std::string_view base, uint64_t file_size) {
  if (file_size == 0) return Status::InvalidArgument("empty file (0 bytes), not a registry hive");
  if (base.size() >= 4 && base.substr(0, 4) != "regf") {
    return Status::InvalidArgument("not a registry hive: starts with '" + Printable(base.substr(0, 4)) +
                                   "', not 'regf'");
  }
  if (file_size < kBaseBlockBytes + kBinBytes || base.size() < kBaseBlockBytes) {
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
  if (kBaseBlockBytes + bins > file_size) {
    return Status::InvalidArgument("truncated: the base block declares " + std::to_string(bins) +
                                   " bytes of hive bins, the file holds " +
                                   std::to_string(file_size - kBaseBlockBytes));
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
  // Only the base block is read here; hivex maps the file itself.
  struct stat st {};
  std::string base(kBaseBlockBytes, '\0');
  const bool stated = ::fstat(fd, &st) == 0;
  int err = errno;
  ssize_t got = -1;
  if (stated && S_ISREG(st.st_mode)) {
    got = ::pread(fd, base.data(), base.size(), 0);
    err = errno;
  }
  ::close(fd);
  if (!stated) return Status::IoError(file + ": " + std::strerror(err));
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(file + ": not a regular file");
  if (got < 0) return Status::IoError(file + ": " + std::strerror(err));
  base.resize(static_cast<size_t>(got));
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > kMaxHiveBytes) {
    return Status::InvalidArgument(file + ": " + std::to_string(size) + " bytes, larger than the limit of " +
                                   std::to_string(kMaxHiveBytes));
  }
  if (Status s = CheckHiveBaseBlock(base, size); !s.ok()) return Status::InvalidArgument(file + ": " + s.message());

  errno = 0;
  hive_h* h = ::hivex_open(host->c_str(), 0);
  if (h == nullptr) {
    const int open_err = errno;
    return Status::InvalidArgument(file + ": hivex cannot open it: " +
                                   (open_err == ENOTSUP ? std::string("corrupt hive bins or cells")
                                                        : std::string(std::strerror(open_err))));
  }
  return std::unique_ptr<Hive>(new Hive(h, file));
}

Hive::~Hive() { ::hivex_close(h_); }

Status Hive::Error(const HiveKey& key, std::string_view what, int err) const {
  return Error(key, std::string(what) + ": " + Reason(err));
}

Status Hive::Error(const HiveKey& key, std::string_view what) const {
  return Status::InvalidArgument(file_ + ": key " + (key.path.empty() ? std::string("\\") : key.path) + ": " +
                                 std::string(what));
}

HiveKey Hive::root() const {
  HiveKey key;
  key.node = ::hivex_root(h_);
  return key;
}

Result<std::vector<HiveKey>> Hive::Children(const HiveKey& key) {
  if (key.lineage.size() >= kMaxHiveKeyDepth) {
    return Error(key, "deeper than " + std::to_string(kMaxHiveKeyDepth) + " keys");
  }
  errno = 0;
  Malloced<hive_node_h> nodes(::hivex_node_children(h_, key.node));
  if (nodes == nullptr) return Error(key, "cannot list its subkeys", errno);
  std::vector<HiveKey> children;
  for (const hive_node_h* n = nodes.get(); *n != 0; ++n) {
    if (++visited_ > kMaxHiveKeysVisited) {
      return Error(key, "more than " + std::to_string(kMaxHiveKeysVisited) + " keys visited in one hive");
    }
    HiveKey child;
    child.node = *n;
    child.lineage = key.lineage;
    child.lineage.push_back(key.node);
    for (size_t above : child.lineage) {
      if (above == child.node) {
        return Error(key, "lists the key at " + Hex(child.node) +
                              ", which is itself or one of its parents, as a subkey (cyclic offsets)");
      }
    }
    errno = 0;
    Malloced<char> name(::hivex_node_name(h_, child.node));
    if (name == nullptr) return Error(key, "cannot read the name of subkey " + Hex(child.node), errno);
    child.name = name.get();
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
  errno = 0;
  Malloced<hive_value_h> handles(::hivex_node_values(h_, key.node));
  if (handles == nullptr) return Error(key, "cannot list its values", errno);
  HiveValues out;
  for (const hive_value_h* v = handles.get(); *v != 0; ++v) {
    errno = 0;
    Malloced<char> name(::hivex_value_key(h_, *v));
    if (name == nullptr) return Error(key, "cannot read the name of value " + Hex(*v), errno);
    bool is_wanted = false;
    for (std::string_view w : wanted) is_wanted = is_wanted || SameName(w, name.get());
    if (!is_wanted) continue;
    hive_type type{};
    size_t len = 0;
    if (::hivex_value_type(h_, *v, &type, &len) != 0) {
      return Error(key, std::string("cannot read the type of value '") + name.get() + "'", errno);
    }
    HiveValues::Value value;
    value.name = name.get();
    if ((type == hive_t_REG_SZ || type == hive_t_REG_EXPAND_SZ) && len <= kMaxHiveStringBytes) {
      errno = 0;
      Malloced<char> text(::hivex_value_string(h_, *v));
      if (text == nullptr) return Error(key, std::string("cannot read value '") + name.get() + "'", errno);
      value.text = text.get();
    } else if (type == hive_t_REG_DWORD && len == 4) {
      errno = 0;
      const int32_t d = ::hivex_value_dword(h_, *v);
      if (d == -1 && errno != 0) return Error(key, std::string("cannot read value '") + name.get() + "'", errno);
      value.dword = static_cast<uint32_t>(d);
    }
    out.values_.push_back(std::move(value));
  }
  return out;
}

}  // namespace ksweep::agent
