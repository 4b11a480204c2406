// What the macOS probes share: the entries of a folder that end in a suffix (.app, .kext, .plist, .pkg), a bundle's
// Info.plist, and the files that could not be read, collected so that one corrupt plist fails the probe (the scan is
// then incomplete) without hiding what the other files show.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "agent/plist.h"
#include "agent/probe.h"
#include "agent/root.h"
#include "common/status.h"

namespace ksweep::agent {

// Entries a probe looks at in one folder; /Applications of a busy Mac holds a few hundred, /var/db/receipts a few
// thousand. More is read as a fault of the disk, not skipped silently.
inline constexpr size_t kMaxMacosFolderEntries = 20'000;
// File names listed in one probe failure message; the rest are counted.
inline constexpr size_t kMaxFailuresNamed = 8;

// The files a probe could not read, in the order met.
class FileFailures {
 public:
  void Add(const Status& status) { messages_.push_back(status.message()); }
  bool empty() const { return messages_.empty(); }
  // Ok when nothing failed; else InvalidArgument naming the files: "2 of 14 files could not be read: A; B".
  Status ToStatus(size_t files_read) const;

 private:
  std::vector<std::string> messages_;
};

// The entries of `dir` sorted by name, without the AppleDouble files ("._X.plist") a Mac leaves on non-Mac
// filesystems. Hidden bundles (".X.app") stay: an installer may hide its helper apps. A missing folder has no entries; an unreadable one, or one with more than
// kMaxMacosFolderEntries entries, is a failure.
std::vector<DirEntry> ListFolder(const Root& root, std::string_view dir, FileFailures* failures);

// `name` ends with `suffix` and has something before it, compared without case as APFS compares names.
bool HasSuffix(std::string_view name, std::string_view suffix);

// Full paths of the entries of ListFolder(dir) whose names end with `suffix`.
std::vector<std::string> EntriesWithSuffix(const Root& root, std::string_view dir, std::string_view suffix,
                                           FileFailures* failures);

// What a bundle's Contents/Info.plist says about it.
struct BundleInfo {
  std::string plist_path;  // Contents/Info.plist
  std::string format;      // "XML" or "binary"
  std::string id;          // CFBundleIdentifier
  std::string version;     // CFBundleShortVersionString, else CFBundleVersion
  std::string name;        // CFBundleName
  std::string copyright;   // NSHumanReadableCopyright: the closest an Info.plist comes to naming its vendor
};

// Reads `bundle`/Contents/Info.plist. NotFound when the bundle has none; InvalidArgument naming the file when it is
// corrupt.
Result<BundleInfo> ReadBundleInfo(const Root& root, const std::string& bundle);

// One observation of `kind` per bundle in `bundles` (its path, and what it is: "app", "kernel extension"), named by
// its Info.plist's CFBundleIdentifier. A bundle without an Info.plist or an identifier is a warning; a damaged
// Info.plist goes to `failures`.
void ObserveBundles(const Root& root, const std::vector<std::pair<std::string, std::string_view>>& bundles,
                    ObservationKind kind, v1::EvidenceKind evidence_kind, FileFailures* failures,
                    ProbeResult* result);

// The last path component: "/Applications/X.app" -> "X.app".
std::string_view BaseName(std::string_view path);

}  // namespace ksweep::agent
