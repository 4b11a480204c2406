#include "agent/scan.h"

#include <google/protobuf/util/time_util.h>

#include <chrono>
#include <regex>

#include "agent/detect.h"
#include "agent/host_facts.h"
#include "agent/root.h"

namespace ksweep::agent {
namespace {

constexpr size_t kMaxVersionFileBytes = 1024 * 1024;

v1::ProbeState ProbeStateOf(const Status& st) {
  if (st.ok()) return v1::PROBE_STATE_OK;
  if (st.code() == Status::Code::kUnavailable) return v1::PROBE_STATE_ABSENT;
  return v1::PROBE_STATE_FAILED;
}

// For products found without a package record (tarball installs such as Scan Engine), the rule says where the
// version is written.
std::string VersionFromSources(const Root& root, const v1::Product& product, std::vector<std::string>* warnings) {
  for (const auto& src : product.version_sources()) {
    auto text = root.ReadFile(src.file(), kMaxVersionFileBytes);
    if (!text.ok()) continue;
    try {
      const std::regex re(src.regex(), std::regex::ECMAScript);
      std::smatch m;
      if (std::regex_search(*text, m, re) && m.size() > 1 && m[1].matched) return m[1].str();
    } catch (const std::regex_error& e) {
      warnings->push_back("version regex of " + product.id() + ": " + e.what());
    }
  }
  return {};
}

}  // namespace

Result<v1::HostReport> Scan(const ScanOptions& options, const v1::RuleSet& rules, const ProbeRegistry& registry,
                            const LoggerPtr& log) {
  const Root root(options.root);
  if (Status st = root.Check(); !st.ok()) return st;

  v1::HostReport report;
  *report.mutable_scanned_at() = google::protobuf::util::TimeUtil::GetCurrentTime();
  report.set_agent_version(KSWEEP_VERSION);
  report.set_rules_version(rules.version());
  std::vector<std::string> warnings;
  *report.mutable_host() = ReadHostFacts(root, &warnings);

  const ProbeContext ctx{root, rules, log, options.command_timeout};
  Observations observations;
  for (const auto& probe : registry.CreateFor(root.platform())) {
    const auto start = std::chrono::steady_clock::now();
    ProbeResult r = probe->Run(ctx);
    const auto took = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
    v1::ProbeRun* run = report.add_probes();
    run->set_name(std::string(probe->name()));
    run->set_state(ProbeStateOf(r.status));
    run->set_message(r.status.ok() ? "" : r.status.message());
    run->set_duration_us(took.count());
    run->set_items(r.items);
    if (run->state() == v1::PROBE_STATE_FAILED) {
      report.set_incomplete(true);
      warnings.push_back("probe " + run->name() + " failed, the scan is incomplete: " + r.status.message());
      log->warn("probe failed probe={} root={} error=\"{}\"", run->name(), root.path(), r.status.message());
    }
    for (auto& w : r.warnings) {
      log->debug("probe warning probe={} warning=\"{}\"", run->name(), w);
      warnings.push_back(run->name() + ": " + w);
    }
    for (auto& o : r.observations) observations.push_back(std::move(o));
  }

  std::vector<v1::Finding> findings = Detect(rules, observations, root.live(), root.platform());
  for (auto& f : findings) {
    if (!f.version().empty()) continue;
    for (const auto& p : rules.products()) {
      if (p.id() == f.product_id() && p.platform() == root.platform()) {
        f.set_version(VersionFromSources(root, p, &warnings));
      }
    }
  }
  report.set_verdict(VerdictOf(findings));
  for (auto& f : findings) *report.add_findings() = std::move(f);
  for (auto& w : warnings) report.add_warnings(std::move(w));
  return report;
}

bool HasActiveFinding(const v1::HostReport& report) {
  for (const auto& f : report.findings()) {
    if (f.state() == v1::PRODUCT_STATE_INSTALLED || f.state() == v1::PRODUCT_STATE_RUNNING) return true;
  }
  return false;
}

}  // namespace ksweep::agent
