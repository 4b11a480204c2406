// The cells of a Windows registry hive file (REGF), parsed from their bytes: key nodes (nk), subkey lists (lf, lh,
// li, ri), value nodes (vk), big-data records (db). Layouts from libyal's "Windows NT Registry File (REGF) format"
// and hivex's lib/hivex-internal.h. Pure functions: agent/windows/hive.cc reads the cells, these say what they hold
// or why they cannot be what their offset claims. A cell's bytes here are its payload, after the 4-byte size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ksweep::agent::regf {

// Offsets in a hive are relative to the first hive bin, which follows the 4096-byte base block.
constexpr uint64_t kBaseBlockBytes = 4096;
// "No cell": an empty list or absent class name.
constexpr uint32_t kNoCell = 0xFFFFFFFF;
// A value's data up to this size lives in one cell; larger data is split in db segments of this size.
constexpr uint32_t kMaxDirectDataBytes = 16344;

struct KeyNode {
  std::string name;  // UTF-8
  uint32_t subkey_count = 0;
  uint32_t subkey_list = kNoCell;
  uint32_t value_count = 0;
  uint32_t value_list = kNoCell;
};
Result<KeyNode> ParseKeyNode(std::string_view cell);

struct SubkeyList {
  bool index_root = false;        // ri: `offsets` are further lists, not keys
  std::vector<uint32_t> offsets;
};
Result<SubkeyList> ParseSubkeyList(std::string_view cell);

struct ValueNode {
  std::string name;  // UTF-8; "" for the key's default value
  uint32_t type = 0;
  uint32_t data_size = 0;
  uint32_t data_offset = 0;  // a cell, or with `inline_data` the data itself (up to 4 bytes)
  bool inline_data = false;
};
Result<ValueNode> ParseValueNode(std::string_view cell);

// A value list, or a db record's segment list: `count` little-endian cell offsets.
Result<std::vector<uint32_t>> ParseOffsets(std::string_view cell, size_t count);

struct BigData {
  uint16_t segments = 0;
  uint32_t segment_list = kNoCell;
};
// Nothing parsed (kNotFound) when `cell` is not a db record: then it is the data itself.
Result<BigData> ParseBigData(std::string_view cell);

// Key and value names are stored either "compressed" (one byte a character, Latin-1) or in UTF-16LE.
std::string Latin1ToUtf8(std::string_view latin1);

}  // namespace ksweep::agent::regf
