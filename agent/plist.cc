#include "agent/plist.h"

#include <plist/plist.h>

#include <cstdio>
#include <cstdlib>

#include "agent/plist_bounds.h"

namespace ksweep::agent {
namespace {

constexpr std::string_view kBinaryPrefix = "bplist";
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
// Seconds from the Unix epoch to Apple's reference date, 2001-01-01T00:00:00Z, where plist dates count from.
constexpr int64_t kAppleEpochOffset = 978307200;

plist_type TypeOf(void* node) { return node == nullptr ? PLIST_NONE : plist_get_node_type(node); }

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The first bytes in hex, for a message about a file that is not what it should be.
std::string HexHead(std::string_view bytes) {
  std::string out;
  for (size_t i = 0; i < bytes.size() && i < 8; ++i) {
    char hex[4];
    std::snprintf(hex, sizeof hex, "%02x", static_cast<unsigned char>(bytes[i]));
    if (!out.empty()) out += ' ';
    out += hex;
  }
  return out;
}

Status Invalid(std::string_view name, const std::string& why) {
  return Status::InvalidArgument(std::string(name) + ": " + why);
}

}  // namespace

void Plist::Free::operator()(void* tree) const { plist_free(tree); }

bool PlistNode::is_dict() const { return TypeOf(node_) == PLIST_DICT; }
bool PlistNode::is_array() const { return TypeOf(node_) == PLIST_ARRAY; }

PlistNode PlistNode::Get(std::string_view key) const {
  if (!is_dict()) return {};
  return PlistNode(plist_dict_get_item(node_, std::string(key).c_str()));
}

PlistNode PlistNode::At(size_t index) const {
  if (!is_array() || index >= plist_array_get_size(node_)) return {};
  return PlistNode(plist_array_get_item(node_, static_cast<uint32_t>(index)));
}

size_t PlistNode::size() const {
  if (is_array()) return plist_array_get_size(node_);
  if (is_dict()) return plist_dict_get_size(node_);
  return 0;
}

std::vector<std::string> PlistNode::Keys() const {
  std::vector<std::string> keys;
  if (!is_dict()) return keys;
  plist_dict_iter it = nullptr;
  plist_dict_new_iter(node_, &it);
  if (it == nullptr) return keys;
  while (true) {
    char* key = nullptr;
    plist_t value = nullptr;
    plist_dict_next_item(node_, it, &key, &value);
    if (key == nullptr) break;
    keys.emplace_back(key);
    std::free(key);
  }
  std::free(it);
  return keys;
}

std::optional<std::string> PlistNode::AsString() const {
  if (TypeOf(node_) != PLIST_STRING) return std::nullopt;
  uint64_t length = 0;
  const char* s = plist_get_string_ptr(node_, &length);
  if (s == nullptr) return std::string();
  return std::string(s, static_cast<size_t>(length));
}

std::optional<uint64_t> PlistNode::AsUnsigned() const {
  if (TypeOf(node_) != PLIST_UINT) return std::nullopt;
  uint64_t v = 0;
  plist_get_uint_val(node_, &v);
  return v;
}

std::optional<bool> PlistNode::AsBool() const {
  if (TypeOf(node_) != PLIST_BOOLEAN) return std::nullopt;
  uint8_t v = 0;
  plist_get_bool_val(node_, &v);
  return v != 0;
}

std::optional<int64_t> PlistNode::AsUnixTime() const {
  if (TypeOf(node_) != PLIST_DATE) return std::nullopt;
  int32_t sec = 0;
  int32_t usec = 0;
  plist_get_date_val(node_, &sec, &usec);
  return int64_t{sec} + kAppleEpochOffset;
}

Result<Plist> ParsePlist(std::string_view bytes, std::string_view name) {
  if (bytes.empty()) return Invalid(name, "empty file (0 bytes), not a property list");
  if (bytes.size() > kMaxPlistBytes) {
    return Invalid(name, std::to_string(bytes.size()) + " bytes, more than the " + std::to_string(kMaxPlistBytes) +
                             " a property list may have here");
  }
  // A file cut inside the magic itself is a truncated binary plist too.
  const bool binary = kBinaryPrefix.starts_with(bytes.substr(0, kBinaryPrefix.size()));
  std::string_view text = bytes;
  if (!binary) {
    if (text.substr(0, kUtf8Bom.size()) == kUtf8Bom) text.remove_prefix(kUtf8Bom.size());
    while (!text.empty() && IsSpace(text.front())) text.remove_prefix(1);
    if (text.substr(0, 2) == "\xFE\xFF" || text.substr(0, 2) == "\xFF\xFE") {
      return Invalid(name, "UTF-16 XML property list, not supported (only UTF-8)");
    }
    if (text.empty() || text.front() != '<') {
      return Invalid(name, "not a property list: starts with " + HexHead(bytes) +
                               ", neither 'bplist00' (binary) nor '<' (XML)");
    }
  }
  if (Status st = binary ? CheckBinaryPlist(bytes) : CheckXmlPlist(text); !st.ok()) {
    return Invalid(name, st.message());
  }
  // libplist reads its input as a C string in places: hand it a terminated copy.
  const std::string input(binary ? bytes : text);
  plist_t tree = nullptr;
  if (binary) {
    plist_from_bin(input.c_str(), static_cast<uint32_t>(input.size()), &tree);
  } else {
    plist_from_xml(input.c_str(), static_cast<uint32_t>(input.size()), &tree);
  }
  if (tree == nullptr) {
    return Invalid(name, binary ? "malformed binary plist (libplist rejected it)"
                                : "malformed XML property list (libplist rejected it)");
  }
  return Plist(tree, binary);
}

Result<Plist> ReadPlist(const Root& root, std::string_view inside) {
  auto bytes = root.ReadFile(inside, kMaxPlistBytes);
  if (!bytes.ok()) return bytes.status();
  return ParsePlist(*bytes, root.Display(inside));
}

}  // namespace ksweep::agent
