#include "agent/probes/pe_version.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "agent/windows/utf16.h"

namespace ksweep::agent {
namespace {

constexpr uint32_t kRtVersion = 16;
constexpr uint32_t kFixedFileInfoSignature = 0xFEEF04BD;
constexpr size_t kFixedFileInfoBytes = 52;
constexpr size_t kDosHeaderBytes = 64;
constexpr size_t kCoffHeaderBytes = 20;
constexpr size_t kSectionBytes = 40;
constexpr size_t kResourceDirectoryBytes = 16;
constexpr size_t kResourceEntryBytes = 8;
constexpr size_t kResourceDataEntryBytes = 16;
constexpr uint32_t kResourceDirectoryIndex = 2;
// Entries of one resource directory: the ids and names of a 16-bit count.
constexpr size_t kMaxResourceEntries = 0xFFFF * 2;

uint16_t Le16(std::string_view b, size_t at) {
  return static_cast<uint16_t>(static_cast<unsigned char>(b[at]) | static_cast<unsigned char>(b[at + 1]) << 8);
}

uint32_t Le32(std::string_view b, size_t at) { return Le16(b, at) | static_cast<uint32_t>(Le16(b, at + 2)) << 16; }

Status Bad(std::string reason) { return Status::InvalidArgument("not a well-formed PE file: " + std::move(reason)); }

// Exactly `length` bytes at `offset`, or why not.
Result<std::string> ReadExactly(const ReadAt& read, uint64_t file_size, uint64_t offset, size_t length,
                                std::string_view what) {
  if (offset > file_size || length > file_size - offset) {
    return Bad(std::string(what) + " at " + std::to_string(offset) + " (" + std::to_string(length) +
               " bytes) lies beyond the end of the file (" + std::to_string(file_size) + " bytes)");
  }
  auto bytes = read(offset, length);
  if (!bytes.ok()) return bytes.status();
  if (bytes->size() != length) return Bad(std::string(what) + ": short read");
  return bytes;
}

struct Section {
  uint32_t virtual_address = 0;
  uint32_t virtual_size = 0;
  uint32_t raw_size = 0;
  uint32_t raw_offset = 0;
};

// The file offset of `rva`, with how many bytes of the section follow it.
std::optional<std::pair<uint64_t, uint64_t>> FileOffsetOf(const std::vector<Section>& sections, uint32_t rva) {
  for (const auto& s : sections) {
    const uint64_t span = std::max(s.virtual_size, s.raw_size);
    if (rva >= s.virtual_address && rva - s.virtual_address < span) {
      const uint64_t into = rva - s.virtual_address;
      if (into >= s.raw_size) return std::nullopt;  // in the zero-filled tail: no bytes in the file
      return std::make_pair(static_cast<uint64_t>(s.raw_offset) + into, static_cast<uint64_t>(s.raw_size) - into);
    }
  }
  return std::nullopt;
}

// One node of VS_VERSIONINFO: wLength, wValueLength, wType, a NUL-terminated UTF-16 key, padding to 32 bits, the
// value, padding, then children up to wLength. Offsets are relative to the resource, which starts 32-bit aligned.
struct VersionNode {
  std::string key;
  std::string_view value;     // raw value bytes (text values: UTF-16LE, possibly NUL-terminated)
  std::string_view children;  // bytes of the children
  size_t children_at = 0;     // offset of `children` in the resource, for alignment
  size_t length = 0;          // wLength: where the next sibling starts (before alignment)
};

size_t Align4(size_t at) { return (at + 3) & ~size_t{3}; }

Result<VersionNode> ParseNode(std::string_view resource, size_t at, size_t end) {
  if (end - at < 6) return Bad("version resource: node at " + std::to_string(at) + " is cut short");
  const size_t length = Le16(resource, at);
  const size_t value_length = Le16(resource, at + 2);
  const bool text = Le16(resource, at + 4) == 1;
  if (length < 6 || length > end - at) {
    return Bad("version resource: node at " + std::to_string(at) + " has length " + std::to_string(length) +
               ", outside its parent");
  }
  const size_t node_end = at + length;
  VersionNode node;
  node.length = length;
  size_t p = at + 6;
  std::string key_utf16;
  while (true) {
    if (p + 2 > node_end) return Bad("version resource: unterminated key at " + std::to_string(at));
    if (Le16(resource, p) == 0) break;
    key_utf16.append(resource.substr(p, 2));
    p += 2;
  }
  node.key = Utf16leToUtf8(key_utf16);
  p = Align4(p + 2);
  // Text values count characters, binary ones bytes (some compilers write bytes for text too: stay in the node).
  const size_t value_bytes = std::min(text ? value_length * 2 : value_length, node_end > p ? node_end - p : 0);
  if (p <= node_end) node.value = resource.substr(p, value_bytes);
  p = Align4(p + value_bytes);
  if (p < node_end) {
    node.children = resource.substr(p, node_end - p);
    node.children_at = p;
  }
  return node;
}

// Calls `visit` on each child of a node, stopping at the first error.
template <typename Visit>
Status ForEachChild(std::string_view resource, const VersionNode& parent, Visit visit) {
  size_t at = parent.children_at;
  const size_t end = parent.children_at + parent.children.size();
  while (at + 6 <= end) {
    auto child = ParseNode(resource, at, end);
    if (!child.ok()) return child.status();
    if (Status s = visit(*child); !s.ok()) return s;
    at = Align4(at + child->length);  // length >= 6: always moves on
  }
  return Status::Ok();
}

std::string TextValue(std::string_view value) {
  std::string text = Utf16leToUtf8(value);
  const size_t nul = text.find('\0');
  if (nul != std::string::npos) text.resize(nul);
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

std::string FixedVersion(uint32_t ms, uint32_t ls) {
  return std::to_string(ms >> 16) + "." + std::to_string(ms & 0xFFFF) + "." + std::to_string(ls >> 16) + "." +
         std::to_string(ls & 0xFFFF);
}

// Follows a resource directory entry to a subdirectory (`want_dir`) or a data entry; returns its offset in the
// resource section.
Result<uint32_t> FirstEntry(const ReadAt& read, uint64_t file_size, uint64_t dir_file_offset, uint64_t section_left,
                            uint32_t dir_offset, std::optional<uint32_t> want_id, bool want_dir) {
  if (dir_offset > section_left || section_left - dir_offset < kResourceDirectoryBytes) {
    return Bad("resource directory at " + std::to_string(dir_offset) + " lies outside the resource section");
  }
  auto header = ReadExactly(read, file_size, dir_file_offset + dir_offset, kResourceDirectoryBytes,
                            "resource directory");
  if (!header.ok()) return header.status();
  const size_t named = Le16(*header, 12);
  const size_t ids = Le16(*header, 14);
  const size_t count = named + ids;
  if (count == 0) return Status::NotFound("no version resource");
  if (count > kMaxResourceEntries ||
      (section_left - dir_offset - kResourceDirectoryBytes) / kResourceEntryBytes < count) {
    return Bad("resource directory at " + std::to_string(dir_offset) + " has more entries than the section holds");
  }
  auto entries = ReadExactly(read, file_size, dir_file_offset + dir_offset + kResourceDirectoryBytes,
                             count * kResourceEntryBytes, "resource directory entries");
  if (!entries.ok()) return entries.status();
  for (size_t i = 0; i < count; ++i) {
    const uint32_t name = Le32(*entries, i * kResourceEntryBytes);
    const uint32_t target = Le32(*entries, i * kResourceEntryBytes + 4);
    // Named entries come first and never carry an id.
    if (want_id && ((name & 0x80000000u) != 0 || name != *want_id)) continue;
    const bool is_dir = (target & 0x80000000u) != 0;
    if (is_dir != want_dir) {
      return Bad("resource entry at " + std::to_string(dir_offset) + " is a " + (is_dir ? "directory" : "leaf") +
                 " where a " + (want_dir ? "directory" : "leaf") + " belongs");
    }
    return target & 0x7FFFFFFFu;
  }
  return Status::NotFound("no version resource");
}

}  // namespace

Result<PeVersionInfo> ParseVersionInfo(std::string_view resource) {
  auto root = ParseNode(resource, 0, resource.size());
  if (!root.ok()) return root.status();
  if (root->key != "VS_VERSION_INFO") return Bad("version resource: root key is '" + root->key + "'");
  PeVersionInfo info;
  std::string fixed_version;
  if (root->value.size() >= kFixedFileInfoBytes && Le32(root->value, 0) == kFixedFileInfoSignature) {
    fixed_version = FixedVersion(Le32(root->value, 8), Le32(root->value, 12));
  }
  bool have_table = false;
  Status st = ForEachChild(resource, *root, [&](const VersionNode& block) {
    if (block.key != "StringFileInfo") return Status::Ok();  // VarFileInfo: translations only
    return ForEachChild(resource, block, [&](const VersionNode& table) {
      // The first string table (language) is the one Explorer shows for a neutral or English system.
      if (have_table) return Status::Ok();
      have_table = true;
      return ForEachChild(resource, table, [&](const VersionNode& s) {
        const std::string value = TextValue(s.value);
        if (s.key == "CompanyName") info.company_name = value;
        if (s.key == "FileVersion") info.file_version = value;
        if (s.key == "ProductName") info.product_name = value;
        if (s.key == "ProductVersion") info.product_version = value;
        if (s.key == "FileDescription") info.file_description = value;
        return Status::Ok();
      });
    });
  });
  if (!st.ok()) return st;
  if (info.file_version.empty()) info.file_version = fixed_version;
  return info;
}

Result<PeVersionInfo> ReadPeVersion(const ReadAt& read, uint64_t file_size) {
  auto dos = ReadExactly(read, file_size, 0, kDosHeaderBytes, "DOS header");
  if (!dos.ok()) return dos.status();
  if (dos->substr(0, 2) != "MZ") return Bad("no 'MZ' signature");
  const uint32_t pe_at = Le32(*dos, 0x3C);
  if (pe_at > kMaxPeHeaderOffset) return Bad("PE header offset " + std::to_string(pe_at) + " is implausible");
  auto coff = ReadExactly(read, file_size, pe_at, 4 + kCoffHeaderBytes, "PE header");
  if (!coff.ok()) return coff.status();
  if (coff->substr(0, 4) != std::string_view("PE\0\0", 4)) return Bad("no 'PE' signature");
  const uint32_t section_count = Le16(*coff, 6);
  const size_t optional_size = Le16(*coff, 20);
  if (section_count > kMaxPeSections) return Bad(std::to_string(section_count) + " sections");
  auto optional = ReadExactly(read, file_size, pe_at + 24, optional_size, "optional header");
  if (!optional.ok()) return optional.status();
  if (optional->size() < 2) return Bad("optional header too short");
  const uint16_t magic = Le16(*optional, 0);
  size_t directories_at = 0;
  if (magic == 0x10B) {
    directories_at = 96;  // PE32
  } else if (magic == 0x20B) {
    directories_at = 112;  // PE32+
  } else {
    return Bad("optional header magic " + std::to_string(magic));
  }
  if (optional->size() < directories_at) return Bad("optional header too short");
  const uint32_t directory_count = Le32(*optional, directories_at - 4);
  const size_t resource_entry = directories_at + kResourceDirectoryIndex * 8;
  if (directory_count <= kResourceDirectoryIndex || optional->size() < resource_entry + 8) {
    return Status::NotFound("no resource directory");
  }
  const uint32_t resource_rva = Le32(*optional, resource_entry);
  if (resource_rva == 0 || Le32(*optional, resource_entry + 4) == 0) return Status::NotFound("no resource directory");

  auto table = ReadExactly(read, file_size, pe_at + 24 + optional_size, section_count * kSectionBytes,
                           "section table");
  if (!table.ok()) return table.status();
  std::vector<Section> sections;
  for (uint32_t i = 0; i < section_count; ++i) {
    const size_t at = i * kSectionBytes;
    sections.push_back({Le32(*table, at + 12), Le32(*table, at + 8), Le32(*table, at + 16), Le32(*table, at + 20)});
  }
  const auto resources = FileOffsetOf(sections, resource_rva);
  if (!resources) return Bad("the resource directory's address is in no section");
  const auto [rsrc_offset, rsrc_left] = *resources;

  // RT_VERSION -> its first name -> its first language -> the data entry.
  auto names = FirstEntry(read, file_size, rsrc_offset, rsrc_left, 0, kRtVersion, true);
  if (!names.ok()) return names.status();
  auto languages = FirstEntry(read, file_size, rsrc_offset, rsrc_left, *names, std::nullopt, true);
  if (!languages.ok()) return languages.status();
  auto data = FirstEntry(read, file_size, rsrc_offset, rsrc_left, *languages, std::nullopt, false);
  if (!data.ok()) return data.status();
  if (*data > rsrc_left || rsrc_left - *data < kResourceDataEntryBytes) {
    return Bad("version data entry lies outside the resource section");
  }
  auto entry = ReadExactly(read, file_size, rsrc_offset + *data, kResourceDataEntryBytes, "resource data entry");
  if (!entry.ok()) return entry.status();
  const uint32_t data_rva = Le32(*entry, 0);
  const uint32_t data_size = Le32(*entry, 4);
  if (data_size > kMaxVersionResourceBytes) {
    return Bad("version resource of " + std::to_string(data_size) + " bytes, more than the limit of " +
               std::to_string(kMaxVersionResourceBytes));
  }
  const auto where = FileOffsetOf(sections, data_rva);
  if (!where || where->second < data_size) return Bad("the version resource's address is in no section");
  auto bytes = ReadExactly(read, file_size, where->first, data_size, "version resource");
  if (!bytes.ok()) return bytes.status();
  return ParseVersionInfo(*bytes);
}

Result<PeVersionInfo> ParsePeVersion(std::string_view file) {
  return ReadPeVersion(
      [file](uint64_t offset, size_t length) -> Result<std::string> {
        if (offset >= file.size()) return std::string();
        return std::string(file.substr(offset, length));
      },
      file.size());
}

}  // namespace ksweep::agent
