#include "tests/integration/windows_fixture.h"

#include <strings.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "tests/integration/test_util.h"

namespace ksweep::test {
namespace {

std::string HiveScript() { return SourcePath("tests/fixtures/windows/make_hive.py"); }
std::string PeScript() { return SourcePath("tests/fixtures/windows/make_pe.sh"); }

void MustRun(const std::vector<std::string>& argv) {
  const ProcessResult r = RunProcess(argv, RunOptions::WithDeadline(std::chrono::minutes(2)));
  if (!r.Exited(0)) {
    std::string cmd;
    for (const auto& a : argv) cmd += a + " ";
    throw std::runtime_error(cmd + ": " + r.Describe());
  }
}

bool IsAscii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// UTF-8 -> UTF-16LE code units, NUL-terminated, as hex bytes "53,00,..." for a .reg hex(n) value.
std::string Utf16HexBytes(std::string_view utf8) {
  std::vector<uint32_t> units;
  for (size_t i = 0; i < utf8.size();) {
    const auto b = static_cast<unsigned char>(utf8[i]);
    uint32_t cp = b;
    int n = 1;
    if (b >= 0xF0) {
      cp = b & 0x07;
      n = 4;
    } else if (b >= 0xE0) {
      cp = b & 0x0F;
      n = 3;
    } else if (b >= 0xC0) {
      cp = b & 0x1F;
      n = 2;
    }
    for (int k = 1; k < n && i + static_cast<size_t>(k) < utf8.size(); ++k) {
      cp = (cp << 6) | (static_cast<unsigned char>(utf8[i + static_cast<size_t>(k)]) & 0x3F);
    }
    i += static_cast<size_t>(n);
    if (cp >= 0x10000) {
      units.push_back(0xD800 + ((cp - 0x10000) >> 10));
      units.push_back(0xDC00 + ((cp - 0x10000) & 0x3FF));
    } else {
      units.push_back(cp);
    }
  }
  units.push_back(0);
  std::string out;
  char buf[16];
  for (uint32_t u : units) {
    std::snprintf(buf, sizeof buf, "%02x,%02x,", u & 0xFF, (u >> 8) & 0xFF);
    out += buf;
  }
  out.pop_back();
  return out;
}

std::string Quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '\\' || c == '"') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

std::string ValueLine(const RegValue& v) {
  std::string line = Quoted(v.name) + "=";
  char buf[32];
  switch (v.type) {
    case RegValue::Type::kDword:
      std::snprintf(buf, sizeof buf, "dword:%08x", v.dword);
      return line + buf;
    case RegValue::Type::kString:
      return line + (IsAscii(v.text) ? Quoted(v.text) : "hex(1):" + Utf16HexBytes(v.text));
    case RegValue::Type::kExpandString:
      return line + (IsAscii(v.text) ? "str(2):" + Quoted(v.text) : "hex(2):" + Utf16HexBytes(v.text));
  }
  return line;
}

}  // namespace

HiveSpec& HiveSpec::Key(const std::string& path, const std::vector<RegValue>& values) {
  for (size_t sep = path.find('\\'); sep != std::string::npos; sep = path.find('\\', sep + 1)) {
    keys_.try_emplace(path.substr(0, sep));
  }
  // A value given again replaces the first (names compare without case, as in the registry).
  auto& stored = keys_[path];
  for (const auto& v : values) {
    std::erase_if(stored, [&v](const RegValue& old) { return ::strcasecmp(old.name.c_str(), v.name.c_str()) == 0; });
    stored.push_back(v);
  }
  return *this;
}

std::string HiveSpec::RegText() const {
  std::string out = "Windows Registry Editor Version 5.00\n\n";
  for (const auto& [path, values] : keys_) {
    out += "[\\" + path + "]\n";
    for (const auto& v : values) out += ValueLine(v) + "\n";
    out += "\n";
  }
  return out;
}

void WriteHive(const std::string& path, const HiveSpec& spec) {
  MakeDirs(std::filesystem::path(path).parent_path().string());
  const std::string reg = path + ".reg";
  WriteFile(reg, spec.RegText());
  MustRun({"python3", HiveScript(), path, reg});
  std::filesystem::remove(reg);
}

void MakeHiveCycle(const std::string& hive, const std::string& key) { MustRun({"python3", HiveScript(), "cycle", hive, key}); }

void MakeHiveIndex(const std::string& hive, const std::string& key) { MustRun({"python3", HiveScript(), "index", hive, key}); }

void MakeHiveBigData(const std::string& hive, const std::string& key, const std::string& value) {
  MustRun({"python3", HiveScript(), "bigdata", hive, key, value});
}

void WritePeImage(const std::string& path, const PeImage& image) {
  MakeDirs(std::filesystem::path(path).parent_path().string());
  std::vector<std::string> argv = {"/bin/sh", PeScript()};
  if (image.pe32) argv.push_back("--pe32");
  argv.insert(argv.end(), {path, image.company, image.version, image.description, image.product});
  MustRun(argv);
}

WindowsRoot::WindowsRoot(std::string path, std::string computer_name, std::string machine_guid)
    : path_(std::move(path)) {
  software_.Key("Microsoft\\Windows NT\\CurrentVersion",
                {RegValue::Sz("ProductName", "Windows 10 Pro"), RegValue::Sz("DisplayVersion", "22H2"),
                 RegValue::Sz("ReleaseId", "2009"), RegValue::Sz("CurrentBuild", "19045"),
                 RegValue::Sz("CurrentBuildNumber", "19045"), RegValue::Dword("UBR", 3803),
                 RegValue::Sz("EditionID", "Professional"), RegValue::Dword("CurrentMajorVersionNumber", 10),
                 RegValue::Dword("CurrentMinorVersionNumber", 0)});
  software_.Key("Microsoft\\Windows\\CurrentVersion\\Uninstall");
  software_.Key("WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall");
  software_.Key("Microsoft\\Cryptography", {RegValue::Sz("MachineGuid", machine_guid)});
  system_.Key("Select", {RegValue::Dword("Current", 1), RegValue::Dword("Default", 1),
                         RegValue::Dword("LastKnownGood", 1)});
  system_.Key("ControlSet001\\Control\\ComputerName\\ComputerName", {RegValue::Sz("ComputerName", computer_name)});
  system_.Key("ControlSet001\\Control\\Session Manager\\Environment",
              {RegValue::Sz("PROCESSOR_ARCHITECTURE", "AMD64")});
  system_.Key("ControlSet001\\Services");
  // Windows' own services and drivers, so a clean root is not an empty one.
  Service("Tcpip", kKernelDriver, kStartBoot, "System32\\drivers\\tcpip.sys", "TCP/IP Protocol Driver");
  Service("Dnscache", kShareProcess, kStartAuto, "%SystemRoot%\\system32\\svchost.exe -k NetworkService -p",
          "DNS Client");
  Dir("/Windows/System32/drivers");
  Dir("/Program Files/Common Files");
  Dir("/ProgramData/Microsoft");
}

WindowsRoot& WindowsRoot::Uninstall(const std::string& subkey, const std::string& display_name,
                                    const std::string& version, const std::string& publisher,
                                    const std::string& location, bool wow64) {
  std::vector<RegValue> values;
  if (!display_name.empty()) values.push_back(RegValue::Sz("DisplayName", display_name));
  if (!version.empty()) values.push_back(RegValue::Sz("DisplayVersion", version));
  if (!publisher.empty()) values.push_back(RegValue::Sz("Publisher", publisher));
  if (!location.empty()) values.push_back(RegValue::Sz("InstallLocation", location));
  values.push_back(RegValue::Dword("NoModify", 1));
  software_.Key(std::string(wow64 ? "WOW6432Node\\" : "") + "Microsoft\\Windows\\CurrentVersion\\Uninstall\\" + subkey,
                values);
  return *this;
}

WindowsRoot& WindowsRoot::Service(const std::string& name, uint32_t type, uint32_t start,
                                  const std::string& image_path, const std::string& display_name,
                                  const std::string& description) {
  std::vector<RegValue> values = {RegValue::Dword("Type", type), RegValue::Dword("Start", start),
                                  RegValue::Dword("ErrorControl", 1)};
  if (!image_path.empty()) values.push_back(RegValue::ExpandSz("ImagePath", image_path));
  if (!display_name.empty()) values.push_back(RegValue::Sz("DisplayName", display_name));
  if (!description.empty()) values.push_back(RegValue::Sz("Description", description));
  system_.Key("ControlSet001\\Services\\" + name, values);
  return *this;
}

WindowsRoot& WindowsRoot::Dir(const std::string& inside) {
  MakeDirs(path_ + inside);
  return *this;
}

WindowsRoot& WindowsRoot::File(const std::string& inside, std::string_view content) {
  WriteFile(path_ + inside, content);
  return *this;
}

WindowsRoot& WindowsRoot::CopyImage(const std::string& from, const std::string& inside) {
  MakeDirs(std::filesystem::path(path_ + inside).parent_path().string());
  std::filesystem::copy_file(from, path_ + inside, std::filesystem::copy_options::overwrite_existing);
  return *this;
}

void WindowsRoot::Write() {
  WriteHive(Software(), software_);
  WriteHive(System(), system_);
}

}  // namespace ksweep::test
