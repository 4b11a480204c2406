#include "agent/probes/rpm_header.h"

#include <algorithm>
#include <cstring>

namespace ksweep::agent {
namespace {

// rpm's tag types (rpmtag.h rpmTagType_e); anything above the last is corruption.
constexpr uint32_t kTypeInt16 = 3;
constexpr uint32_t kTypeInt32 = 4;
constexpr uint32_t kTypeInt64 = 5;
constexpr uint32_t kTypeString = 6;
constexpr uint32_t kTypeI18nString = 9;
constexpr uint32_t kTypeMax = 9;

constexpr size_t kPreambleBytes = 8;  // index count + data length
constexpr size_t kEntryBytes = 16;
constexpr unsigned char kHeaderMagic[4] = {0x8e, 0xad, 0xe8, 0x01};
// When more is needed, ask for this much past what is missing: small, as each byte past the need may cost a page.
constexpr size_t kMinGrowth = 1024;

struct Entry {
  uint32_t tag = 0;
  uint32_t type = 0;
  uint32_t offset = 0;
  uint32_t count = 0;
  bool present = false;
};

uint32_t Be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string Num(uint64_t v) { return std::to_string(v); }

Status Bad(std::string msg) { return Status::InvalidArgument("rpm header: " + std::move(msg)); }

std::string Label(std::string_view name, uint32_t tag) { return std::string(name) + " (tag " + Num(tag) + ")"; }

// The data store an index entry points into, of which only the first `avail` bytes may be at hand.
class DataStore {
 public:
  // `base`: where the data store starts in the blob, to express a need as a prefix length.
  DataStore(const unsigned char* data, uint32_t size, size_t avail, size_t base, size_t* need)
      : data_(data), size_(size), avail_(std::min<size_t>(avail, size)), base_(base), need_(need) {}

  // The first NUL-terminated string of a STRING or I18NSTRING entry.
  Status String(const Entry& e, std::string_view name, std::string_view* out) const {
    if (e.type != kTypeString && e.type != kTypeI18nString) {
      return Bad(Label(name, e.tag) + " has type " + Num(e.type) + ", want a string");
    }
    if (e.count == 0) return Bad(Label(name, e.tag) + " has a count of 0");
    if (e.type == kTypeString && e.count != 1) {
      return Bad(Label(name, e.tag) + " is a single string with a count of " + Num(e.count));
    }
    const unsigned char* start = data_ + e.offset;
    const void* nul = e.offset < avail_ ? std::memchr(start, '\0', avail_ - e.offset) : nullptr;
    if (nul == nullptr) {
      if (avail_ < size_) return Need(std::max<size_t>(e.offset, avail_) + kMinGrowth);
      return Bad(Label(name, e.tag) + " at offset " + Num(e.offset) + " has no NUL before the end of the " +
                 Num(size_) + "-byte data store");
    }
    *out = std::string_view(reinterpret_cast<const char*>(start),
                            static_cast<size_t>(static_cast<const unsigned char*>(nul) - start));
    return Status::Ok();
  }

  Status Int32(const Entry& e, std::string_view name, uint32_t* out) const {
    if (e.type != kTypeInt32) return Bad(Label(name, e.tag) + " has type " + Num(e.type) + ", want int32");
    if (e.count == 0) return Bad(Label(name, e.tag) + " has a count of 0");
    const uint64_t end = uint64_t{e.offset} + 4;
    if (end > size_) {
      return Bad(Label(name, e.tag) + " at offset " + Num(e.offset) + " runs past the end of the " + Num(size_) +
                 "-byte data store");
    }
    if (end > avail_) return Need(static_cast<size_t>(end) + kMinGrowth);
    *out = Be32(data_ + e.offset);
    return Status::Ok();
  }

 private:
  Status Need(size_t data_bytes) const {
    *need_ = base_ + std::min<size_t>(data_bytes, size_);
    return Status::Unavailable("rpm header: needs the first " + Num(*need_) + " bytes");
  }

  const unsigned char* data_;
  uint32_t size_;
  size_t avail_;
  size_t base_;
  size_t* need_;
};

}  // namespace

Result<RpmHeaderView> ParseRpmHeaderPrefix(std::string_view prefix, size_t total_size, size_t* need) {
  *need = 0;
  if (prefix.size() > total_size) {
    return Bad("a prefix of " + Num(prefix.size()) + " bytes of a " + Num(total_size) + "-byte blob");
  }
  const auto* p = reinterpret_cast<const unsigned char*>(prefix.data());
  size_t avail = prefix.size();
  size_t size = total_size;
  size_t base = 0;  // bytes of magic skipped
  auto more = [&](size_t bytes) {
    *need = std::min(total_size, base + bytes);
    return Status::Unavailable("rpm header: needs the first " + Num(*need) + " bytes");
  };

  if (size >= kPreambleBytes && avail < kPreambleBytes) return more(kPreambleBytes + kMinGrowth);
  if (size >= kPreambleBytes && std::memcmp(p, kHeaderMagic, sizeof kHeaderMagic) == 0) {
    base = kPreambleBytes;
    p += kPreambleBytes;
    avail -= kPreambleBytes;
    size -= kPreambleBytes;
    if (size >= kPreambleBytes && avail < kPreambleBytes) return more(kPreambleBytes + kMinGrowth);
  }
  if (size < kPreambleBytes) {
    return Bad(Num(size) + " bytes, shorter than the " + Num(kPreambleBytes) + "-byte index count and data length");
  }
  const uint32_t il = Be32(p);
  const uint32_t dl = Be32(p + 4);
  if (il == 0) return Bad("no index entries");
  if (il > kRpmMaxIndexEntries) {
    return Bad("index count " + Num(il) + " is above rpm's limit of " + Num(kRpmMaxIndexEntries));
  }
  if (dl > kRpmMaxDataBytes) {
    return Bad("data length " + Num(dl) + " is above rpm's limit of " + Num(kRpmMaxDataBytes));
  }
  // 64-bit arithmetic: with the limits above this cannot overflow, and stays so if they are raised.
  const uint64_t whole = uint64_t{kPreambleBytes} + uint64_t{il} * kEntryBytes + dl;
  if (whole != size) {
    return Bad(Num(il) + " index entries and " + Num(dl) + " data bytes make " + Num(whole) + " bytes, the blob has " +
               Num(size));
  }
  const size_t data_start = kPreambleBytes + size_t{il} * kEntryBytes;
  if (avail < data_start) return more(data_start + kMinGrowth);

  const unsigned char* index = p + kPreambleBytes;
  const DataStore store(p + data_start, dl, avail - data_start, base + data_start, need);
  Entry name, version, release, epoch, vendor, arch;
  for (uint32_t i = 0; i < il; ++i) {
    const unsigned char* raw = index + size_t{i} * kEntryBytes;
    const Entry e{Be32(raw), Be32(raw + 4), Be32(raw + 8), Be32(raw + 12), true};
    if (e.type > kTypeMax) {
      return Bad("index entry " + Num(i) + " (tag " + Num(e.tag) + ") has unknown type " + Num(e.type));
    }
    if (e.offset > dl) {
      return Bad("index entry " + Num(i) + " (tag " + Num(e.tag) + ") points at offset " + Num(e.offset) +
                 ", past the " + Num(dl) + "-byte data store");
    }
    const uint32_t align = e.type == kTypeInt16 ? 2 : e.type == kTypeInt32 ? 4 : e.type == kTypeInt64 ? 8 : 1;
    if (e.offset % align != 0) {
      return Bad("index entry " + Num(i) + " (tag " + Num(e.tag) + ") offset " + Num(e.offset) +
                 " is not aligned to " + Num(align) + " bytes");
    }
    // A tag seen twice: the later entry is the one rpm added after install (the "dribble" after the region).
    switch (e.tag) {
      case kRpmTagName: name = e; break;
      case kRpmTagVersion: version = e; break;
      case kRpmTagRelease: release = e; break;
      case kRpmTagEpoch: epoch = e; break;
      case kRpmTagVendor: vendor = e; break;
      case kRpmTagArch: arch = e; break;
      default: break;
    }
  }

  RpmHeaderView h;
  struct Required {
    const Entry& entry;
    std::string_view label;
    uint32_t tag;
    std::string_view* out;
  };
  for (const Required& r : {Required{name, "NAME", kRpmTagName, &h.name},
                            Required{version, "VERSION", kRpmTagVersion, &h.version},
                            Required{release, "RELEASE", kRpmTagRelease, &h.release}}) {
    if (!r.entry.present) return Bad("no " + Label(r.label, r.tag));
    if (Status st = store.String(r.entry, r.label, r.out); !st.ok()) return st;
    if (r.out->empty()) return Bad(Label(r.label, r.tag) + " is empty");
  }
  if (arch.present) {
    if (Status st = store.String(arch, "ARCH", &h.arch); !st.ok()) return st;
  }
  if (vendor.present) {
    if (Status st = store.String(vendor, "VENDOR", &h.vendor); !st.ok()) return st;
  }
  if (epoch.present) {
    uint32_t v = 0;
    if (Status st = store.Int32(epoch, "EPOCH", &v); !st.ok()) return st;
    h.epoch = v;
  }
  return h;
}

Result<RpmHeaderView> ParseRpmHeader(std::string_view blob) {
  size_t need = 0;
  return ParseRpmHeaderPrefix(blob, blob.size(), &need);  // the whole blob is at hand: never asks for more
}

std::string RpmEvr(const RpmHeaderView& header) {
  std::string evr;
  evr.reserve(header.version.size() + header.release.size() + 12);
  if (header.epoch) {
    evr += std::to_string(*header.epoch);
    evr += ':';
  }
  evr += header.version;
  evr += '-';
  evr += header.release;
  return evr;
}

}  // namespace ksweep::agent
