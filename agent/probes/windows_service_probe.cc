// Windows services and drivers: the keys under SYSTEM\<current control set>\Services. Type 0x1/0x2 (kernel and
// file-system drivers) are drivers, 0x10/0x20 (own and shared process, with or without the interactive bit 0x100)
// services; other keys under Services (adapters, event-log sources without Type) are skipped.
// Only a service or driver whose key name a rule pattern of its kind matches has its image read: the PE version
// resource gives the CompanyName the rules' vendor qualifier checks (a `kl*` driver is Kaspersky's only when its
// company says so) and the FileVersion.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "agent/probe_registry.h"
#include "agent/probes/pe_version.h"
#include "agent/windows/hive.h"
#include "agent/windows/image_path.h"
#include "agent/windows/registry_path.h"
#include "common/glob.h"

namespace ksweep::agent {
namespace {

constexpr uint32_t kKernelDriver = 0x1;
constexpr uint32_t kFileSystemDriver = 0x2;
constexpr uint32_t kOwnProcess = 0x10;
constexpr uint32_t kShareProcess = 0x20;
// Reads of one image are a few hundred bytes each (pe_version.h); this bounds any single one.
constexpr size_t kMaxImageRead = kMaxVersionResourceBytes;

constexpr std::string_view kWanted[] = {"Type", "Start", "ImagePath", "DisplayName"};

std::string StartWord(uint32_t start) {
  switch (start) {
    case 0: return "boot";
    case 1: return "system";
    case 2: return "auto";
    case 3: return "demand";
    case 4: return "disabled";
    default: return "unknown";
  }
}

// An image file under the root, read at offsets: the thin I/O under the pure PE parser.
class ImageFile {
 public:
  ~ImageFile() {
    if (fd_ >= 0) ::close(fd_);
  }

  Status Open(const Root& root, const std::string& inside) {
    auto host = root.Resolve(inside);
    if (!host.ok()) return host.status();
    fd_ = ::open(host->c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd_ < 0) return Status::IoError(inside + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return Status::IoError(inside + ": " + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(inside + ": not a regular file");
    size_ = static_cast<uint64_t>(st.st_size);
    return Status::Ok();
  }

  uint64_t size() const { return size_; }

  Result<std::string> Read(uint64_t offset, size_t length) const {
    std::string buf(std::min(length, kMaxImageRead), '\0');
    size_t got = 0;
    while (got < buf.size()) {
      const ssize_t n = ::pread(fd_, buf.data() + got, buf.size() - got, static_cast<off_t>(offset + got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::IoError(std::strerror(errno));
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    buf.resize(got);
    return buf;
  }

 private:
  int fd_ = -1;
  uint64_t size_ = 0;
};

Result<PeVersionInfo> ImageVersion(const Root& root, const std::string& inside) {
  ImageFile file;
  if (Status s = file.Open(root, inside); !s.ok()) return s;
  auto info = ReadPeVersion([&file](uint64_t offset, size_t length) { return file.Read(offset, length); },
                            file.size());
  if (info.ok() || info.status().code() == Status::Code::kNotFound) return info;
  return Status::InvalidArgument(inside + ": " + info.status().message());
}

struct ServicePatterns {
  std::vector<std::string> services;
  std::vector<std::string> drivers;

  static bool Any(const std::vector<std::string>& patterns, std::string_view name) {
    for (const auto& p : patterns) {
      if (GlobMatch(p, name, true)) return true;
    }
    return false;
  }
};

class WindowsServiceProbe final : public Probe {
 public:
  std::string_view name() const override { return "windows_services"; }

  ProbeResult Run(const ProbeContext& ctx) override {
    ProbeResult result;
    ServicePatterns patterns;
    for (const auto& product : ctx.rules.products()) {
      if (product.platform() != ctx.root.platform()) continue;
      for (const auto& s : product.signals()) {
        if (s.kind() == v1::SIGNAL_KIND_WINDOWS_SERVICE) patterns.services.push_back(s.pattern());
        if (s.kind() == v1::SIGNAL_KIND_WINDOWS_DRIVER) patterns.drivers.push_back(s.pattern());
      }
    }
    auto hive = Hive::Open(ctx.root, kSystemHive);
    if (!hive.ok()) {
      result.status = hive.status().code() == Status::Code::kNotFound
                          ? Status::Unavailable("no SYSTEM hive (" + std::string(kSystemHive) + ")")
                          : hive.status();
      return result;
    }
    auto control_set = CurrentControlSet(**hive);
    if (!control_set.ok()) {
      result.status = control_set.status();
      return result;
    }
    auto services = (*hive)->Find(*control_set, "Services");
    if (!services.ok() || !*services) {
      result.status = services.ok() ? Status::InvalidArgument((*hive)->file() + ": no Services key in " +
                                                              control_set->name)
                                    : services.status();
      return result;
    }
    auto keys = (*hive)->Children(**services);
    if (!keys.ok()) {
      result.status = keys.status();
      return result;
    }
    for (const auto& key : *keys) {
      ++result.items;
      auto values = (*hive)->Values(key, kWanted);
      if (!values.ok()) {
        // One unreadable service key: the others still count, but the scan says it is incomplete.
        if (result.status.ok()) {
          result.status = values.status();
        } else {
          result.warnings.push_back(values.status().message());
        }
        continue;
      }
      const std::optional<uint32_t> type = values->Dword("Type");
      if (!type) continue;
      const bool driver = (*type & (kKernelDriver | kFileSystemDriver)) != 0;
      const bool service = (*type & (kOwnProcess | kShareProcess)) != 0;
      if (!driver && !service) continue;
      Observation o;
      o.kind = driver ? ObservationKind::kWindowsDriver : ObservationKind::kWindowsService;
      o.evidence_kind = driver ? v1::EVIDENCE_KIND_WINDOWS_DRIVER : v1::EVIDENCE_KIND_WINDOWS_SERVICE;
      o.name = key.name;
      o.path = "HKLM\\SYSTEM\\CurrentControlSet\\Services\\" + key.name;
      o.image = values->String("ImagePath").value_or("");
      if (ServicePatterns::Any(driver ? patterns.drivers : patterns.services, key.name)) {
        ReadImage(ctx.root, driver, &o, &result.warnings);
      }
      o.detail = Detail(driver, o, values->String("DisplayName").value_or(""), values->Dword("Start"));
      result.observations.push_back(std::move(o));
    }
    return result;
  }

 private:
  static void ReadImage(const Root& root, bool driver, Observation* o, std::vector<std::string>* warnings) {
    // A driver without ImagePath is loaded from System32\drivers\<name>.sys.
    const std::string image = o->image.empty() && driver ? "System32\\drivers\\" + o->name + ".sys" : o->image;
    const std::optional<std::string> inside = ImageFileInRoot(image);
    if (!inside) return;
    auto info = ImageVersion(root, *inside);
    if (!info.ok()) {
      if (info.status().code() != Status::Code::kNotFound) {
        warnings->push_back("image of " + o->name + ": " + info.status().message());
      }
      return;
    }
    o->vendor = info->company_name;
    o->version = info->file_version;
  }

  static std::string Detail(bool driver, const Observation& o, const std::string& display_name,
                            std::optional<uint32_t> start) {
    std::string d = std::string(driver ? "driver " : "service ") + o.name;
    if (!display_name.empty()) d += " '" + display_name + "'";
    if (start) d += " (Start " + std::to_string(*start) + " " + StartWord(*start) + ")";
    if (!o.image.empty()) d += ", image " + o.image;
    if (!o.vendor.empty()) d += ", company '" + o.vendor + "'";
    if (!o.version.empty()) d += ", version " + o.version;
    return d;
  }
};

}  // namespace

ProbePtr MakeWindowsServiceProbe() { return std::make_unique<WindowsServiceProbe>(); }

}  // namespace ksweep::agent
