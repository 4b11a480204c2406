#include "agent/windows/regf.h"

#include "agent/windows/utf16.h"

namespace ksweep::agent::regf {
namespace {

// Flags of an nk record and of a vk record that say the name is Latin-1 (else UTF-16LE).
constexpr uint16_t kKeyCompressedName = 0x0020;
constexpr uint16_t kValueCompressedName = 0x0001;
constexpr size_t kKeyNodeBytes = 76;    // up to the name
constexpr size_t kValueNodeBytes = 20;  // up to the name
constexpr uint32_t kInlineData = 0x80000000;

uint16_t Le16(std::string_view b, size_t at) {
  return static_cast<uint16_t>(static_cast<unsigned char>(b[at]) | static_cast<unsigned char>(b[at + 1]) << 8);
}
uint32_t Le32(std::string_view b, size_t at) { return Le16(b, at) | static_cast<uint32_t>(Le16(b, at + 2)) << 16; }

std::string Name(std::string_view raw, bool compressed) {
  return compressed ? Latin1ToUtf8(raw) : Utf16leToUtf8(raw);
}

}  // namespace

std::string Latin1ToUtf8(std::string_view latin1) {
  std::string out;
  out.reserve(latin1.size());
  for (char c : latin1) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80) {
      out.push_back(c);
    } else {
      out.push_back(static_cast<char>(0xC0 | (u >> 6)));
      out.push_back(static_cast<char>(0x80 | (u & 0x3F)));
    }
  }
  return out;
}

Result<KeyNode> ParseKeyNode(std::string_view cell) {
  if (cell.size() < kKeyNodeBytes || cell.substr(0, 2) != "nk") return Status::InvalidArgument("not a key (nk) record");
  const size_t name_len = Le16(cell, 72);
  if (kKeyNodeBytes + name_len > cell.size()) {
    return Status::InvalidArgument("key name of " + std::to_string(name_len) + " bytes overruns its record");
  }
  KeyNode key;
  key.name = Name(cell.substr(kKeyNodeBytes, name_len), (Le16(cell, 2) & kKeyCompressedName) != 0);
  key.subkey_count = Le32(cell, 20);
  key.subkey_list = Le32(cell, 28);
  key.value_count = Le32(cell, 36);
  key.value_list = Le32(cell, 40);
  return key;
}

Result<SubkeyList> ParseSubkeyList(std::string_view cell) {
  if (cell.size() < 4) return Status::InvalidArgument("subkey list record cut short");
  const std::string_view kind = cell.substr(0, 2);
  const size_t count = Le16(cell, 2);
  size_t stride = 0;
  SubkeyList list;
  if (kind == "lf" || kind == "lh") {
    stride = 8;  // offset and name hash
  } else if (kind == "li") {
    stride = 4;
  } else if (kind == "ri") {
    stride = 4;
    list.index_root = true;
  } else {
    return Status::InvalidArgument("subkey list is neither lf, lh, li nor ri");
  }
  if (4 + count * stride > cell.size()) {
    return Status::InvalidArgument("subkey list of " + std::to_string(count) + " entries overruns its record");
  }
  list.offsets.reserve(count);
  for (size_t i = 0; i < count; ++i) list.offsets.push_back(Le32(cell, 4 + i * stride));
  return list;
}

Result<ValueNode> ParseValueNode(std::string_view cell) {
  if (cell.size() < kValueNodeBytes || cell.substr(0, 2) != "vk") {
    return Status::InvalidArgument("not a value (vk) record");
  }
  const size_t name_len = Le16(cell, 2);
  if (kValueNodeBytes + name_len > cell.size()) {
    return Status::InvalidArgument("value name of " + std::to_string(name_len) + " bytes overruns its record");
  }
  ValueNode value;
  value.name = Name(cell.substr(kValueNodeBytes, name_len), (Le16(cell, 16) & kValueCompressedName) != 0);
  const uint32_t size = Le32(cell, 4);
  value.inline_data = (size & kInlineData) != 0;
  value.data_size = size & ~kInlineData;
  value.data_offset = Le32(cell, 8);
  value.type = Le32(cell, 12);
  if (value.inline_data && value.data_size > 4) {
    return Status::InvalidArgument("value '" + value.name + "' claims " + std::to_string(value.data_size) +
                                   " bytes of inline data");
  }
  return value;
}

Result<std::vector<uint32_t>> ParseOffsets(std::string_view cell, size_t count) {
  if (count > cell.size() / 4) {
    return Status::InvalidArgument("list of " + std::to_string(count) + " offsets overruns its record");
  }
  std::vector<uint32_t> offsets;
  offsets.reserve(count);
  for (size_t i = 0; i < count; ++i) offsets.push_back(Le32(cell, i * 4));
  return offsets;
}

Result<BigData> ParseBigData(std::string_view cell) {
  if (cell.size() < 8 || cell.substr(0, 2) != "db") return Status::NotFound("not a big-data record");
  return BigData{Le16(cell, 2), Le32(cell, 4)};
}

}  // namespace ksweep::agent::regf
