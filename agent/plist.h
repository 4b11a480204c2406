// Property lists (macOS Info.plist, launchd jobs, package receipts, system preferences), XML or binary, parsed by
// libplist behind the bounds of plist_bounds.h. Read-only views; the probes never see libplist itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/root.h"
#include "common/status.h"

namespace ksweep::agent {

// The largest plist file read. Real ones are kilobytes (a big app's Info.plist ~50 KiB).
inline constexpr size_t kMaxPlistBytes = 4u * 1024 * 1024;

// One value inside a Plist, valid as long as the Plist is. A missing key or index gives the empty node, on which
// every accessor answers nothing, so lookups chain: plist.root().Get("System").Get("HostName").AsString().
class PlistNode {
 public:
  PlistNode() = default;

  bool exists() const { return node_ != nullptr; }
  bool is_dict() const;
  bool is_array() const;

  // A dictionary's value for `key`, an array's element at `index`; the empty node otherwise.
  PlistNode Get(std::string_view key) const;
  PlistNode At(size_t index) const;
  // Elements of an array or entries of a dictionary; 0 for anything else.
  size_t size() const;
  // A dictionary's keys in file order (libplist keeps it).
  std::vector<std::string> Keys() const;

  std::optional<std::string> AsString() const;
  std::optional<uint64_t> AsUnsigned() const;
  std::optional<bool> AsBool() const;
  // A <date>, as seconds since the Unix epoch.
  std::optional<int64_t> AsUnixTime() const;

 private:
  friend class Plist;
  explicit PlistNode(void* node) : node_(node) {}
  void* node_ = nullptr;  // libplist's plist_t, owned by the Plist
};

class Plist {
 public:
  Plist(Plist&&) noexcept = default;
  Plist& operator=(Plist&&) noexcept = default;

  PlistNode root() const { return PlistNode(tree_.get()); }
  // "binary" or "XML": what the file was written as.
  std::string_view format() const { return binary_ ? "binary" : "XML"; }

 private:
  friend Result<Plist> ParsePlist(std::string_view bytes, std::string_view name);
  struct Free {
    void operator()(void* tree) const;
  };
  Plist(void* tree, bool binary) : tree_(tree), binary_(binary) {}
  std::unique_ptr<void, Free> tree_;
  bool binary_ = false;
};

// Parses `bytes` (at most kMaxPlistBytes) as a binary ("bplist00") or XML property list. Errors are
// InvalidArgument and begin with `name` (the file): empty, not a plist (wrong magic), truncated, cyclic, too deep or
// too large (plist_bounds.h), or rejected by libplist as malformed.
Result<Plist> ParsePlist(std::string_view bytes, std::string_view name);

// Reads `inside` through the root (the error names the file as the scanned system writes it) and parses it.
Result<Plist> ReadPlist(const Root& root, std::string_view inside);

}  // namespace ksweep::agent
