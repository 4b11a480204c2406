// Windows system roots for tests, written with the real tools: registry hives from .reg text by hivex's own
// hivexregedit (on an empty hive tests/fixtures/windows/make_hive.py writes), PE images whose version resource
// windres compiles and ld links (tests/fixtures/windows/make_pe.sh). Failures throw std::runtime_error naming the
// command: a broken fixture, not a finding.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ksweep::test {

struct RegValue {
  enum class Type { kString, kExpandString, kDword };
  Type type = Type::kString;
  std::string name;
  std::string text;  // UTF-8
  uint32_t dword = 0;

  static RegValue Sz(std::string name, std::string text) { return {Type::kString, std::move(name), std::move(text)}; }
  static RegValue ExpandSz(std::string name, std::string text) {
    return {Type::kExpandString, std::move(name), std::move(text)};
  }
  static RegValue Dword(std::string name, uint32_t value) { return {Type::kDword, std::move(name), "", value}; }
};

// The keys of one hive, written from the hive root (`Microsoft\Windows\CurrentVersion`). Parents need not be
// listed: RegText() adds each one before its children, as hivexregedit requires.
class HiveSpec {
 public:
  // Adds `path`, or values to it (a value already there is replaced).
  HiveSpec& Key(const std::string& path, const std::vector<RegValue>& values = {});
  // The .reg text hivexregedit --merge reads. Non-ASCII strings go as hex(1)/hex(2) UTF-16LE bytes: hivexregedit
  // takes quoted text byte by byte.
  std::string RegText() const;

 private:
  std::map<std::string, std::vector<RegValue>> keys_;  // sorted: a parent sorts before its children
};

// Writes `spec` as a hive file at `path`.
void WriteHive(const std::string& path, const HiveSpec& spec);

// `make_hive.py cycle`: the first subkey entry of `key` then points at `key`'s parent.
void MakeHiveCycle(const std::string& hive, const std::string& key);
// `make_hive.py index`: `key`'s subkey list becomes an index (ri) of two lists, as Windows writes large keys.
void MakeHiveIndex(const std::string& hive, const std::string& key);
// `make_hive.py bigdata`: `value`'s data moves into big-data segments (db), as Windows writes data over 16344 bytes.
void MakeHiveBigData(const std::string& hive, const std::string& key, const std::string& value);

struct PeImage {
  std::string company;
  std::string version;  // four dotted numbers
  std::string description;
  std::string product;
  bool pe32 = false;  // a 32-bit image (PE32), else PE32+
};

// Writes a PE image at `path` with `image`'s version resource.
void WritePeImage(const std::string& path, const PeImage& image);

// Service types and start modes as the Services keys store them.
constexpr uint32_t kKernelDriver = 0x1;
constexpr uint32_t kFileSystemDriver = 0x2;
constexpr uint32_t kOwnProcess = 0x10;
constexpr uint32_t kShareProcess = 0x20;
constexpr uint32_t kStartBoot = 0;
constexpr uint32_t kStartSystem = 1;
constexpr uint32_t kStartAuto = 2;
constexpr uint32_t kStartDemand = 3;

// A Windows system root: SOFTWARE and SYSTEM under Windows/System32/config with what every Windows holds
// (CurrentVersion, MachineGuid, Select\Current = 1, ControlSet001 with the computer name and processor
// architecture), plus what a test adds. Nothing is on disk until Write().
class WindowsRoot {
 public:
  explicit WindowsRoot(std::string path, std::string computer_name = "WIN-FIXTURE",
                       std::string machine_guid = "4c4c4544-0042-3510-8052-b4c04f4e4d32");

  HiveSpec& software() { return software_; }
  HiveSpec& system() { return system_; }

  // An Uninstall entry in the 64-bit view, or with `wow64` in SOFTWARE\WOW6432Node's.
  WindowsRoot& Uninstall(const std::string& subkey, const std::string& display_name, const std::string& version,
                         const std::string& publisher, const std::string& location = "", bool wow64 = false);
  // A key under ControlSet001\Services.
  WindowsRoot& Service(const std::string& name, uint32_t type, uint32_t start, const std::string& image_path,
                       const std::string& display_name = "", const std::string& description = "");
  // A folder or file inside the root (`/Program Files (x86)/Kaspersky Lab`), parents created.
  WindowsRoot& Dir(const std::string& inside);
  WindowsRoot& File(const std::string& inside, std::string_view content = "");
  // A copy of an image made once with WritePeImage.
  WindowsRoot& CopyImage(const std::string& from, const std::string& inside);

  // Writes the two hives.
  void Write();

  const std::string& path() const { return path_; }
  std::string Software() const { return path_ + "/Windows/System32/config/SOFTWARE"; }
  std::string System() const { return path_ + "/Windows/System32/config/SYSTEM"; }

 private:
  std::string path_;
  HiveSpec software_;
  HiveSpec system_;
};

}  // namespace ksweep::test
