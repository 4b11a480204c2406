#include "agent/probes/macos_files.h"

#include <algorithm>
#include <cctype>

namespace ksweep::agent {

Status FileFailures::ToStatus(size_t files_read) const {
  if (messages_.empty()) return Status::Ok();
  const size_t total = std::max(files_read, messages_.size());
  std::string text = std::to_string(messages_.size()) + " of " + std::to_string(total) +
                     (total == 1 ? " file" : " files") + " could not be read: ";
  for (size_t i = 0; i < messages_.size() && i < kMaxFailuresNamed; ++i) {
    if (i != 0) text += "; ";
    text += messages_[i];
  }
  if (messages_.size() > kMaxFailuresNamed) {
    text += "; and " + std::to_string(messages_.size() - kMaxFailuresNamed) + " more";
  }
  return Status::InvalidArgument(text);
}

std::vector<DirEntry> ListFolder(const Root& root, std::string_view dir, FileFailures* failures) {
  auto entries = root.ListDir(dir);
  if (!entries.ok()) {
    if (entries.status().code() != Status::Code::kNotFound) failures->Add(entries.status());
    return {};
  }
  if (entries->size() > kMaxMacosFolderEntries) {
    failures->Add(Status::InvalidArgument(root.Display(dir) + ": " + std::to_string(entries->size()) +
                                          " entries, more than the " + std::to_string(kMaxMacosFolderEntries) +
                                          " read from one folder"));
    return {};
  }
  std::vector<DirEntry> out;
  for (auto& e : *entries) {
    if (!e.name.starts_with("._")) out.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end(), [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return out;
}

bool HasSuffix(std::string_view name, std::string_view suffix) {
  if (name.size() <= suffix.size()) return false;
  const std::string_view tail = name.substr(name.size() - suffix.size());
  return std::equal(tail.begin(), tail.end(), suffix.begin(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  });
}

std::vector<std::string> EntriesWithSuffix(const Root& root, std::string_view dir, std::string_view suffix,
                                           FileFailures* failures) {
  std::vector<std::string> out;
  for (const auto& e : ListFolder(root, dir, failures)) {
    if (HasSuffix(e.name, suffix)) out.push_back(std::string(dir) + "/" + e.name);
  }
  return out;
}

Result<BundleInfo> ReadBundleInfo(const Root& root, const std::string& bundle) {
  BundleInfo info;
  info.plist_path = bundle + "/Contents/Info.plist";
  auto plist = ReadPlist(root, info.plist_path);
  if (!plist.ok()) return plist.status();
  const PlistNode top = plist->root();
  info.format = std::string(plist->format());
  info.id = top.Get("CFBundleIdentifier").AsString().value_or("");
  info.version = top.Get("CFBundleShortVersionString").AsString().value_or("");
  if (info.version.empty()) info.version = top.Get("CFBundleVersion").AsString().value_or("");
  info.name = top.Get("CFBundleName").AsString().value_or("");
  info.copyright = top.Get("NSHumanReadableCopyright").AsString().value_or("");
  return info;
}

void ObserveBundles(const Root& root, const std::vector<std::pair<std::string, std::string_view>>& bundles,
                    ObservationKind kind, v1::EvidenceKind evidence_kind, FileFailures* failures,
                    ProbeResult* result) {
  for (const auto& [bundle, what] : bundles) {
    ++result->items;
    auto info = ReadBundleInfo(root, bundle);
    if (!info.ok()) {
      if (info.status().code() == Status::Code::kNotFound) {
        result->warnings.push_back(root.Display(bundle) + ": no Contents/Info.plist");
      } else {
        failures->Add(info.status());
      }
      continue;
    }
    if (info->id.empty()) {
      result->warnings.push_back(root.Display(info->plist_path) + ": no CFBundleIdentifier");
      continue;
    }
    Observation o;
    o.kind = kind;
    o.evidence_kind = evidence_kind;
    o.name = info->id;
    o.version = info->version;
    o.vendor = info->copyright;
    o.path = root.Display(bundle);
    o.image = o.path;
    o.detail = std::string(what) + " " + o.path + ", " + info->id + (info->version.empty() ? "" : " " + info->version) +
               " (Info.plist, " + info->format + ")";
    result->observations.push_back(std::move(o));
  }
}

std::string_view BaseName(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace ksweep::agent
