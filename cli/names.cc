#include "cli/names.h"

#include <google/protobuf/descriptor.h>

#include <algorithm>
#include <cctype>

#include "common/platform.h"

namespace ksweep::cli {
namespace {

std::string StripPrefix(const std::string& name, std::string_view prefix) {
  if (name.empty() || name.ends_with("_UNSPECIFIED")) return "";
  return name.starts_with(prefix) ? name.substr(prefix.size()) : name;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string> SplitCommaList(std::string_view list) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string_view::npos) end = list.size();
    std::string_view item = list.substr(start, end - start);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front()))) item.remove_prefix(1);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back()))) item.remove_suffix(1);
    items.emplace_back(item);
    start = end + 1;
  }
  return items;
}

// Parses a comma list against the values of a proto enum, by short name ("version-changed" == VERSION_CHANGED).
template <typename E>
Result<std::vector<E>> ParseEnumList(const google::protobuf::EnumDescriptor* desc, std::string_view prefix,
                                     std::string_view list, std::string_view flag) {
  std::string accepted;
  for (int i = 0; i < desc->value_count(); ++i) {
    const std::string short_name = StripPrefix(desc->value(i)->name(), prefix);
    if (short_name.empty()) continue;
    if (!accepted.empty()) accepted += ", ";
    accepted += Lower(short_name);
  }
  std::vector<E> out;
  for (const std::string& item : SplitCommaList(list)) {
    std::string key = Lower(item);
    for (char& c : key) {
      if (c == '-') c = '_';
    }
    const E* found = nullptr;
    E value{};
    for (int i = 0; i < desc->value_count(); ++i) {
      const std::string short_name = StripPrefix(desc->value(i)->name(), prefix);
      if (!short_name.empty() && Lower(short_name) == key) {
        value = static_cast<E>(desc->value(i)->number());
        found = &value;
        break;
      }
    }
    if (found == nullptr) {
      return Status::InvalidArgument(std::string(flag) + ": unknown value '" + item + "' (expected a comma list of " +
                                     accepted + ")");
    }
    bool seen = false;
    for (E e : out) seen = seen || e == value;
    if (!seen) out.push_back(value);
  }
  return out;
}

}  // namespace

std::string ShortName(v1::Verdict verdict) { return StripPrefix(v1::Verdict_Name(verdict), "VERDICT_"); }
std::string ShortName(v1::ProductState state) { return StripPrefix(v1::ProductState_Name(state), "PRODUCT_STATE_"); }
std::string ShortName(v1::EventType type) { return StripPrefix(v1::EventType_Name(type), "EVENT_TYPE_"); }
std::string ShortName(v1::EvidenceKind kind) { return StripPrefix(v1::EvidenceKind_Name(kind), "EVIDENCE_KIND_"); }

Result<std::vector<v1::Verdict>> ParseVerdicts(std::string_view list, std::string_view flag) {
  return ParseEnumList<v1::Verdict>(v1::Verdict_descriptor(), "VERDICT_", list, flag);
}

Result<std::vector<v1::EventType>> ParseEventTypes(std::string_view list, std::string_view flag) {
  return ParseEnumList<v1::EventType>(v1::EventType_descriptor(), "EVENT_TYPE_", list, flag);
}

Result<std::vector<v1::Platform>> ParsePlatforms(std::string_view list, std::string_view flag) {
  std::vector<v1::Platform> out;
  for (const std::string& item : SplitCommaList(list)) {
    const auto platform = ParsePlatformName(item);
    if (!platform) {
      return Status::InvalidArgument(std::string(flag) + ": unknown value '" + item +
                                     "' (expected a comma list of linux, windows, macos)");
    }
    if (std::find(out.begin(), out.end(), *platform) == out.end()) out.push_back(*platform);
  }
  return out;
}

Result<v1::HostOrder> ParseHostOrder(std::string_view text, std::string_view flag) {
  const std::string key = Lower(text);
  if (key == "hostname") return v1::HOST_ORDER_HOSTNAME;
  if (key == "last-seen" || key == "last_seen") return v1::HOST_ORDER_LAST_SEEN;
  if (key == "verdict") return v1::HOST_ORDER_VERDICT;
  return Status::InvalidArgument(std::string(flag) + ": unknown order '" + std::string(text) +
                                 "' (expected hostname, last-seen or verdict)");
}

}  // namespace ksweep::cli
