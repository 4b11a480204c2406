// macOS installer receipts: what `pkgutil --pkgs` lists, read from /var/db/receipts/<package id>.plist
// (PackageIdentifier, PackageVersion, InstallDate), and the receipt bundles of installers before Mac OS X 10.5,
// /Library/Receipts/<name>.pkg, named by their folder. A receipt outlives an app dragged to the Trash: on its own it
// is a remnant, and the rules say so.
#include <ctime>

#include "agent/probe_registry.h"
#include "agent/probes/macos_files.h"

namespace ksweep::agent {
namespace {

constexpr std::string_view kReceipts = "/var/db/receipts";
constexpr std::string_view kLegacyReceipts = "/Library/Receipts";

std::string IsoDate(int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (::gmtime_r(&t, &tm) == nullptr) return {};
  char buf[32];
  if (std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) return {};
  return buf;
}

class PackageReceiptProbe final : public Probe {
 public:
  std::string_view name() const override { return "package_receipts"; }

  ProbeResult Run(const ProbeContext& ctx) override {
    ProbeResult result;
    FileFailures failures;
    for (const auto& file : EntriesWithSuffix(ctx.root, kReceipts, ".plist", &failures)) {
      ++result.items;
      auto plist = ReadPlist(ctx.root, file);
      if (!plist.ok()) {
        failures.Add(plist.status());
        continue;
      }
      const PlistNode receipt = plist->root();
      Observation o;
      o.kind = ObservationKind::kPackageReceipt;
      o.evidence_kind = v1::EVIDENCE_KIND_PACKAGE_RECEIPT;
      o.path = ctx.root.Display(file);
      o.name = receipt.Get("PackageIdentifier").AsString().value_or("");
      if (o.name.empty()) {
        // The installer names each receipt after its package id.
        std::string_view base = BaseName(file);
        base.remove_suffix(std::string_view(".plist").size());
        o.name = std::string(base);
        result.warnings.push_back(o.path + ": no PackageIdentifier, named by its file");
      }
      o.version = receipt.Get("PackageVersion").AsString().value_or("");
      const auto installed = receipt.Get("InstallDate").AsUnixTime();
      o.detail = "package receipt " + o.name + (o.version.empty() ? "" : " " + o.version) +
                 (installed ? ", installed " + IsoDate(*installed) : "") + " (" + o.path + ", " +
                 std::string(plist->format()) + ")";
      result.observations.push_back(std::move(o));
    }
    for (const auto& bundle : EntriesWithSuffix(ctx.root, kLegacyReceipts, ".pkg", &failures)) {
      ++result.items;
      Observation o;
      o.kind = ObservationKind::kPackageReceipt;
      o.evidence_kind = v1::EVIDENCE_KIND_PACKAGE_RECEIPT;
      o.path = ctx.root.Display(bundle);
      o.name = std::string(BaseName(bundle));
      // Old receipt bundles carry an Info.plist; the version in it is a bonus, its absence is usual.
      if (auto info = ReadBundleInfo(ctx.root, bundle); info.ok()) {
        o.version = info->version;
      } else if (info.status().code() != Status::Code::kNotFound) {
        failures.Add(info.status());
      }
      o.detail = "legacy package receipt " + o.name + (o.version.empty() ? "" : " " + o.version) + " (" + o.path + ")";
      result.observations.push_back(std::move(o));
    }
    result.status = failures.ToStatus(static_cast<size_t>(result.items));
    return result;
  }
};

}  // namespace

ProbePtr MakePackageReceiptProbe() { return std::make_unique<PackageReceiptProbe>(); }

}  // namespace ksweep::agent
