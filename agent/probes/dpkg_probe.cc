// dpkg: reads var/lib/dpkg/status (and the journal in updates/ that dpkg itself replays) under the root.
#include <algorithm>
#include <map>

#include "agent/probe_registry.h"
#include "agent/probes/dpkg_status.h"

namespace ksweep::agent {
namespace {

constexpr std::string_view kAdminDir = "/var/lib/dpkg";
constexpr std::string_view kStatusFile = "/var/lib/dpkg/status";
// Far above any real system (a desktop with 5,000 packages has ~10 MB) but bounded.
constexpr size_t kMaxStatusBytes = 512ull * 1024 * 1024;
constexpr size_t kMaxUpdateBytes = 16ull * 1024 * 1024;

std::string StateWords(PackageState state) {
  switch (state) {
    case PackageState::kInstalled: return "installed";
    case PackageState::kBroken: return "installed but broken";
    case PackageState::kConfigFiles: return "removed, configuration files left";
    case PackageState::kNotInstalled: return "not installed";
  }
  return "unknown";
}

bool IsJournalName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

class DpkgProbe final : public Probe {
 public:
  std::string_view name() const override { return "dpkg"; }

  ProbeResult Run(const ProbeContext& ctx) override {
    ProbeResult result;
    // Only a missing database means "no dpkg here"; one we cannot read (permissions, a link loop) fails the probe,
    // or a host with Kaspersky installed would scan clean.
    if (auto info = ctx.root.Stat(kStatusFile); !info.ok()) {
      result.status = info.status().code() == Status::Code::kNotFound
                          ? Status::Unavailable("no dpkg database (" + std::string(kStatusFile) + ") under " +
                                                ctx.root.path())
                          : info.status();
      return result;
    }
    DpkgStatusParser parser;
    Status st = ctx.root.ReadChunks(kStatusFile, kMaxStatusBytes, [&parser](std::string_view c) { parser.Feed(c); });
    if (!st.ok()) {
      result.status = st;
      return result;
    }
    std::vector<DpkgRecord> records = parser.Finish();
    for (const auto& w : parser.warnings()) result.warnings.push_back(std::string(kStatusFile) + ": " + w);
    ApplyJournal(ctx, &records, &result.warnings);

    result.items = static_cast<int>(records.size());
    for (auto& r : records) {
      if (r.state == PackageState::kNotInstalled) continue;
      Observation o;
      o.kind = ObservationKind::kPackage;
      o.evidence_kind = v1::EVIDENCE_KIND_DPKG_PACKAGE;
      o.package_state = r.state;
      o.detail = "dpkg package " + r.package + (r.architecture.empty() ? "" : ":" + r.architecture) + " " +
                 r.version + ", status '" + r.status + "' (" + StateWords(r.state) + ")";
      o.name = std::move(r.package);
      o.version = std::move(r.version);
      o.vendor = std::move(r.maintainer);
      o.path = std::string(kStatusFile);
      result.observations.push_back(std::move(o));
    }
    result.status = Status::Ok();
    return result;
  }

 private:
  // dpkg writes each change to updates/NNNN before folding it into status; after a crash these are the truth.
  static void ApplyJournal(const ProbeContext& ctx, std::vector<DpkgRecord>* records,
                           std::vector<std::string>* warnings) {
    const std::string dir = std::string(kAdminDir) + "/updates";
    auto entries = ctx.root.ListDir(dir);
    if (!entries.ok()) return;  // no journal: the usual case
    std::vector<std::string> names;
    for (const auto& e : *entries) {
      if (IsJournalName(e.name)) names.push_back(e.name);
    }
    if (names.empty()) return;
    std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
      return a.size() != b.size() ? a.size() < b.size() : a < b;
    });
    std::map<std::string, size_t> index;
    for (size_t i = 0; i < records->size(); ++i) index[(*records)[i].package + ":" + (*records)[i].architecture] = i;
    for (const auto& n : names) {
      const std::string path = dir + "/" + n;
      auto text = ctx.root.ReadFile(path, kMaxUpdateBytes);
      if (!text.ok()) {
        warnings->push_back(text.status().message());
        continue;
      }
      std::vector<std::string> w;
      for (auto& r : ParseDpkgStatus(*text, &w)) {
        const std::string key = r.package + ":" + r.architecture;
        auto it = index.find(key);
        if (it == index.end()) {
          index[key] = records->size();
          records->push_back(std::move(r));
        } else {
          (*records)[it->second] = std::move(r);
        }
      }
      for (const auto& m : w) warnings->push_back(path + ": " + m);
    }
  }
};

}  // namespace

ProbePtr MakeDpkgProbe() { return std::make_unique<DpkgProbe>(); }

}  // namespace ksweep::agent
