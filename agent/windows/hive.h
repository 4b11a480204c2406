// A registry hive file of a Windows system root (Windows/System32/config/SOFTWARE, SYSTEM). Read at offsets, cell by
// cell, through a 1 MiB page cache (the cells' layouts: agent/windows/regf.h): memory stays bounded however large the
// hive, and a scan reads only the keys it asks for. Key names compare without case, as Windows compares them. Every
// failure is a Status naming the hive file and the reason; a corrupt hive never crashes the agent or loops it: the
// header is checked at open, every cell is checked against the hive bins before it is read, and every walk is bounded
// in depth, in keys visited and in value size, and refuses a key that lists its own ancestor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agent/root.h"
#include "common/status.h"

namespace ksweep::agent {

namespace regf {
struct ValueNode;
}

// Real SOFTWARE hives run from 30 to a few hundred MB; anything past this is not a hive.
constexpr uint64_t kMaxHiveBytes = 1024ull * 1024 * 1024;
// Windows allows 512 levels; every key the probes read sits within a dozen of the root.
constexpr size_t kMaxHiveKeyDepth = 64;
// Per open hive: a real SOFTWARE hive holds a few hundred thousand keys, and the probes visit a few thousand.
constexpr size_t kMaxHiveKeysVisited = 1'000'000;
// A DisplayName, ImagePath or ProductName is a line; larger string values are not decoded.
constexpr size_t kMaxHiveStringBytes = 64 * 1024;

// Checks a hive's base block (its first 4096 bytes, or fewer when the file is shorter) against the file's size.
// The message is the reason alone; the caller names the file.
Status CheckHiveBaseBlock(std::string_view base_block, uint64_t file_size);

struct HiveKey {
  size_t node = 0;
  std::string name;  // as stored; "" for the root
  std::string path;  // from the hive root, `\Microsoft\Windows`; "" for the root
  std::vector<size_t> lineage;  // the keys above, root first: a subkey found among them is a cycle
};

// Values of one key, looked up by name without case. Only REG_SZ / REG_EXPAND_SZ (as UTF-8) and REG_DWORD are read.
class HiveValues {
 public:
  std::optional<std::string> String(std::string_view name) const;
  std::optional<uint32_t> Dword(std::string_view name) const;

 private:
  friend class Hive;
  struct Value {
    std::string name;
    std::optional<std::string> text;
    std::optional<uint32_t> dword;
  };
  const Value* Find(std::string_view name) const;
  std::vector<Value> values_;
};

class Hive {
 public:
  // Opens `inside` (a path under the root, resolved as the root resolves names: without case on Windows roots).
  // kNotFound when there is no such file; kInvalidArgument naming the file when it is not a readable hive.
  static Result<std::unique_ptr<Hive>> Open(const Root& root, std::string_view inside);
  ~Hive();
  Hive(const Hive&) = delete;
  Hive& operator=(const Hive&) = delete;

  // The file as the probes name it (the path inside the root).
  const std::string& file() const { return path_; }

  HiveKey root() const;
  // `path` is backslash-separated below `from` (`Microsoft\Windows NT\CurrentVersion`); empty components are
  // ignored. Nothing when a key on the way is absent.
  Result<std::optional<HiveKey>> Find(const HiveKey& from, std::string_view path);
  Result<std::vector<HiveKey>> Children(const HiveKey& key);
  // The values of `key` whose names are in `wanted` (compared without case).
  Result<HiveValues> Values(const HiveKey& key, std::span<const std::string_view> wanted);

 private:
  class File;
  Hive(std::unique_ptr<File> file, std::string path, uint32_t bins_size, uint32_t root_offset);
  // The payload of the used cell at `offset` (relative to the first hive bin), or why it is not one.
  Result<std::string> Cell(uint32_t offset);
  // A value's data: inline, in one cell, or in big-data segments.
  Result<std::string> Data(const regf::ValueNode& value);
  Status Error(const HiveKey& key, std::string_view what) const;

  std::unique_ptr<File> file_;
  std::string path_;
  uint32_t bins_size_;
  uint32_t root_offset_;
  size_t visited_ = 0;
};

}  // namespace ksweep::agent
