#include "agent/plist_bounds.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace ksweep::agent {
namespace {

// bplist00 layout (CoreFoundation CFBinaryPList.c): "bplist00", objects, offset table, 32-byte trailer
// {6 unused bytes, offset int size, object ref size, object count, top object, offset table offset} (big-endian).
constexpr std::string_view kBinaryMagic = "bplist00";
constexpr size_t kTrailerBytes = 32;

uint64_t BigEndian(std::string_view bytes, size_t at, size_t width) {
  uint64_t v = 0;
  for (size_t i = 0; i < width; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
  return v;
}

Status Corrupt(const std::string& why) { return Status::InvalidArgument("binary plist is corrupt: " + why); }

// Where one object's references are: `count` references of `ref_size` bytes from `refs` (0 for scalars).
struct ObjectRefs {
  uint64_t refs = 0;
  uint64_t count = 0;
};

class BinaryPlistChecker {
 public:
  explicit BinaryPlistChecker(std::string_view bytes) : bytes_(bytes) {}

  Status Check() {
    if (bytes_.size() < kBinaryMagic.size() + kTrailerBytes + 1) {
      return Status::InvalidArgument("binary plist truncated: " + std::to_string(bytes_.size()) +
                                     " bytes, its header and trailer alone take " +
                                     std::to_string(kBinaryMagic.size() + kTrailerBytes + 1));
    }
    if (bytes_.substr(0, kBinaryMagic.size()) != kBinaryMagic) {
      return Status::InvalidArgument("binary plist version '" + std::string(bytes_.substr(0, 8)) +
                                     "' is not supported (only bplist00)");
    }
    const size_t trailer = bytes_.size() - kTrailerBytes;
    offset_size_ = static_cast<unsigned char>(bytes_[trailer + 6]);
    ref_size_ = static_cast<unsigned char>(bytes_[trailer + 7]);
    const uint64_t objects = BigEndian(bytes_, trailer + 8, 8);
    const uint64_t top = BigEndian(bytes_, trailer + 16, 8);
    table_ = BigEndian(bytes_, trailer + 24, 8);
    // A file cut short keeps some other part of itself where the trailer should be: these fields are then garbage.
    const std::string cut = "binary plist truncated or corrupt: trailer says ";
    if (offset_size_ < 1 || offset_size_ > 8 || ref_size_ < 1 || ref_size_ > 8) {
      return Status::InvalidArgument(cut + "offsets of " + std::to_string(offset_size_) + " and references of " +
                                     std::to_string(ref_size_) + " bytes (1 to 8 are valid)");
    }
    if (objects == 0 || top >= objects) {
      return Status::InvalidArgument(cut + std::to_string(objects) + " objects with the top one at " +
                                     std::to_string(top));
    }
    if (table_ < kBinaryMagic.size() || table_ > trailer || (trailer - table_) / offset_size_ < objects) {
      return Status::InvalidArgument(cut + "the offset table of " + std::to_string(objects) + " entries is at byte " +
                                     std::to_string(table_) + ", the file has " + std::to_string(bytes_.size()));
    }
    if (objects > kMaxPlistNodes) {
      return Status::InvalidArgument("binary plist holds " + std::to_string(objects) + " objects, more than the " +
                                     std::to_string(kMaxPlistNodes) + " a property list may have here");
    }
    objects_ = objects;
    return Walk(top);
  }

 private:
  enum Colour : uint8_t { kUnseen, kOpen, kDone };

  struct Frame {
    uint64_t object;
    ObjectRefs refs;
    uint64_t next = 0;  // the next reference to follow
  };

  // Depth-first from the top object with an explicit stack no deeper than kMaxPlistDepth: a reference to an object
  // still open is a cycle; a closed object's expanded size is remembered, so the walk is linear in the references.
  Status Walk(uint64_t top) {
    colour_.assign(objects_, kUnseen);
    expanded_.assign(objects_, 0);
    std::vector<Frame> stack;
    if (Status st = Open(top, &stack); !st.ok()) return st;
    while (!stack.empty()) {
      Frame& f = stack.back();
      if (f.next == f.refs.count) {
        size_t total = 1;
        const ObjectRefs refs = f.refs;
        const uint64_t object = f.object;
        for (uint64_t i = 0; i < refs.count; ++i) {
          total = std::min(total + expanded_[Ref(refs, i)], kMaxPlistNodes + 1);
        }
        expanded_[object] = total;
        colour_[object] = kDone;
        stack.pop_back();
        if (total > kMaxPlistNodes) {
          return Status::InvalidArgument("binary plist expands to more than " + std::to_string(kMaxPlistNodes) +
                                         " values (its objects are shared by many references)");
        }
        continue;
      }
      const uint64_t child = Ref(f.refs, f.next++);
      if (child >= objects_) {
        return Corrupt("object " + std::to_string(f.object) + " refers to object " + std::to_string(child) + " of " +
                       std::to_string(objects_));
      }
      if (colour_[child] == kOpen) {
        return Corrupt("object " + std::to_string(f.object) + " refers back to object " + std::to_string(child) +
                       " that contains it (cyclic offsets)");
      }
      if (colour_[child] == kDone) continue;
      if (stack.size() > static_cast<size_t>(kMaxPlistDepth)) {
        return Status::InvalidArgument("binary plist nests deeper than " + std::to_string(kMaxPlistDepth) +
                                       " levels");
      }
      if (Status st = Open(child, &stack); !st.ok()) return st;
    }
    return Status::Ok();
  }

  uint64_t Ref(const ObjectRefs& refs, uint64_t i) const { return BigEndian(bytes_, refs.refs + i * ref_size_, ref_size_); }

  Status Open(uint64_t object, std::vector<Frame>* stack) {
    auto refs = Parse(object);
    if (!refs.ok()) return refs.status();
    colour_[object] = kOpen;
    stack->push_back(Frame{object, *refs});
    return Status::Ok();
  }

  // The extent of one object: every byte it needs lies between the header and the offset table.
  Result<ObjectRefs> Parse(uint64_t object) const {
    const std::string where = "object " + std::to_string(object);
    const uint64_t at = BigEndian(bytes_, table_ + object * offset_size_, offset_size_);
    if (at < kBinaryMagic.size() || at >= table_) {
      return Corrupt(where + " is at byte " + std::to_string(at) + ", outside the object area (8 to " +
                     std::to_string(table_) + ")");
    }
    const unsigned marker = static_cast<unsigned char>(bytes_[at]);
    const unsigned type = marker >> 4;
    const unsigned info = marker & 0x0f;
    uint64_t pos = at + 1;
    const auto fits = [&](uint64_t n) { return n <= table_ - pos; };
    const auto bad_marker = [&] {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", marker);
      return Corrupt(where + " has an unknown marker " + hex);
    };
    // Collections and strings give their length in the marker or, from 15 up, in a following integer object.
    uint64_t count = info;
    if (info == 0x0f && (type == 0x4 || type == 0x5 || type == 0x6 || type == 0xa || type == 0xc || type == 0xd)) {
      if (!fits(1)) return Corrupt(where + " is cut off by the offset table");
      const unsigned len_marker = static_cast<unsigned char>(bytes_[pos]);
      const uint64_t width = uint64_t{1} << (len_marker & 0x0f);
      if ((len_marker >> 4) != 0x1 || width > 8) return Corrupt(where + " has an invalid length");
      ++pos;
      if (!fits(width)) return Corrupt(where + " is cut off by the offset table");
      count = BigEndian(bytes_, pos, width);
      pos += width;
    }
    uint64_t unit = 0;  // bytes per counted item
    switch (type) {
      case 0x0:
        if (info != 0x8 && info != 0x9) return bad_marker();  // false, true; libplist takes no null or fill
        return ObjectRefs{};
      case 0x1:
        if (info > 4 || !fits(uint64_t{1} << info)) return Corrupt(where + " (integer) is cut off or too wide");
        return ObjectRefs{};
      case 0x2:
        if ((info != 2 && info != 3) || !fits(uint64_t{1} << info)) return Corrupt(where + " (real) is invalid");
        return ObjectRefs{};
      case 0x3:
        if (info != 3 || !fits(8)) return Corrupt(where + " (date) is invalid");
        return ObjectRefs{};
      case 0x4:
      case 0x5: unit = 1; break;
      case 0x6: unit = 2; break;
      case 0x8:
        if (!fits(info + 1)) return Corrupt(where + " (uid) is cut off by the offset table");
        return ObjectRefs{};
      case 0xa:
      case 0xc: unit = ref_size_; break;
      case 0xd: unit = 2ull * ref_size_; break;
      default: return bad_marker();
    }
    if (count > (table_ - pos) / unit) {
      return Corrupt(where + " claims " + std::to_string(count) + " items that run past the offset table");
    }
    if (type == 0xa || type == 0xc) return ObjectRefs{pos, count};
    if (type == 0xd) return ObjectRefs{pos, 2 * count};  // keys, then values
    return ObjectRefs{};
  }

  std::string_view bytes_;
  unsigned offset_size_ = 0;
  unsigned ref_size_ = 0;
  uint64_t objects_ = 0;
  uint64_t table_ = 0;
  std::vector<uint8_t> colour_;
  std::vector<size_t> expanded_;
};

bool StartsWith(std::string_view s, size_t at, std::string_view prefix) { return s.substr(at, prefix.size()) == prefix; }

}  // namespace

Status CheckBinaryPlist(std::string_view bytes) { return BinaryPlistChecker(bytes).Check(); }

Status CheckXmlPlist(std::string_view bytes) {
  int depth = 0;
  size_t elements = 0;
  size_t i = 0;
  const auto skip_past = [&](std::string_view end) {
    const size_t at = bytes.find(end, i);
    i = at == std::string_view::npos ? bytes.size() : at + end.size();
  };
  while ((i = bytes.find('<', i)) != std::string_view::npos) {
    if (StartsWith(bytes, i, "<!--")) {
      skip_past("-->");
    } else if (StartsWith(bytes, i, "<![CDATA[")) {
      skip_past("]]>");
    } else if (StartsWith(bytes, i, "<?")) {
      skip_past("?>");
    } else if (StartsWith(bytes, i, "<!")) {
      skip_past(">");
    } else if (StartsWith(bytes, i, "</")) {
      if (StartsWith(bytes, i, "</array") || StartsWith(bytes, i, "</dict")) --depth;
      skip_past(">");
    } else {
      const bool container = StartsWith(bytes, i, "<array") || StartsWith(bytes, i, "<dict");
      skip_past(">");
      const bool self_closing = i >= 2 && bytes[i - 2] == '/';
      if (++elements > kMaxPlistNodes) {
        return Status::InvalidArgument("XML plist has more than " + std::to_string(kMaxPlistNodes) + " elements");
      }
      if (container && !self_closing && ++depth > kMaxPlistDepth) {
        return Status::InvalidArgument("XML plist nests deeper than " + std::to_string(kMaxPlistDepth) + " levels");
      }
    }
  }
  return Status::Ok();
}

}  // namespace ksweep::agent
