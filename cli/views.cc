#include "cli/views.h"

#include <sstream>

#include "cli/csv.h"
#include "cli/json.h"
#include "cli/names.h"
#include "cli/table.h"
#include "cli/times.h"
#include "common/platform.h"
#include "common/report_text.h"

namespace ksweep::cli {
namespace {

template <typename Strings>
std::string JoinStrings(const Strings& items, const char* sep) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::string OsText(const v1::OsInfo& os) {
  if (os.id().empty()) return os.version_id();
  return os.version_id().empty() ? os.id() : os.id() + " " + os.version_id();
}

// "" when the collector did not say (one from before platforms), else "Windows", "macOS", "Linux".
std::string PlatformText(v1::Platform p) {
  return p == v1::PLATFORM_UNSPECIFIED ? "" : std::string(PlatformLabel(p));
}

// The same for scripts: the --platform spelling.
std::string PlatformKey(v1::Platform p) { return p == v1::PLATFORM_UNSPECIFIED ? "" : std::string(PlatformName(p)); }

std::vector<std::string> FailedProbeNames(const v1::Host& host) {
  std::vector<std::string> names;
  for (const auto& p : host.failed_probes()) names.push_back(p.name());
  return names;
}

// ---- summary ----

Table SummaryCsv(const v1::Summary& s) {
  Table t{{"section", "key", "label", "hosts"}, {}};
  t.rows.push_back({"total", "", "", std::to_string(s.total_hosts())});
  t.rows.push_back({"affected", "", "running or installed, not stale", std::to_string(s.affected_hosts())});
  t.rows.push_back({"stale", "", "", std::to_string(s.stale_hosts())});
  for (const auto& c : s.by_verdict()) t.rows.push_back({"verdict", c.key(), c.label(), std::to_string(c.hosts())});
  for (const auto& c : s.by_product()) t.rows.push_back({"product", c.key(), c.label(), std::to_string(c.hosts())});
  for (const auto& c : s.by_os()) t.rows.push_back({"os", c.key(), c.label(), std::to_string(c.hosts())});
  for (const auto& c : s.by_platform()) {
    t.rows.push_back({"platform", c.key(), c.label(), std::to_string(c.hosts())});
  }
  return t;
}

std::string SummaryText(const v1::Summary& s) {
  std::ostringstream out;
  out << "Hosts: " << s.total_hosts() << " total, " << s.affected_hosts() << " affected (running or installed), "
      << s.stale_hosts() << " stale";
  if (IsSet(s.as_of())) out << ", as of " << FormatTimeShort(s.as_of());
  out << "\n";
  if (s.by_verdict_size() > 0) {
    Table t{{"VERDICT", "HOSTS"}, {}};
    for (const auto& c : s.by_verdict()) t.rows.push_back({c.key(), std::to_string(c.hosts())});
    out << "\n" << RenderTable(t);
  }
  if (s.by_platform_size() > 0) {
    Table t{{"PLATFORM", "HOSTS"}, {}};
    for (const auto& c : s.by_platform()) {
      t.rows.push_back({c.label().empty() ? c.key() : c.label(), std::to_string(c.hosts())});
    }
    out << "\n" << RenderTable(t);
  }
  if (s.by_product_size() > 0) {
    Table t{{"PRODUCT", "NAME", "HOSTS"}, {}};
    for (const auto& c : s.by_product()) t.rows.push_back({c.key(), c.label(), std::to_string(c.hosts())});
    out << "\n" << RenderTable(t);
  }
  if (s.by_os_size() > 0) {
    Table t{{"OS", "HOSTS"}, {}};
    for (const auto& c : s.by_os()) t.rows.push_back({c.key().empty() ? "(unknown)" : c.key(), std::to_string(c.hosts())});
    out << "\n" << RenderTable(t);
  }
  return out.str();
}

// ---- hosts ----

Table HostsTable(const v1::ListHostsResponse& r) {
  Table t{{"HOSTNAME", "VERDICT", "PRODUCTS", "PLATFORM", "OS", "LAST SEEN", "CONNECTED", "HOST ID"}, {}};
  for (const auto& h : r.hosts()) {
    t.rows.push_back({h.hostname(), ShortName(h.verdict()) + (h.incomplete() ? " (incomplete)" : ""),
                      JoinStrings(h.products(), ","), PlatformText(h.platform()), OsText(h.os()),
                      FormatTimeShort(h.last_seen()), h.connected() ? "yes" : "no", h.host_id()});
  }
  return t;
}

Table HostsCsv(const v1::ListHostsResponse& r) {
  Table t{{"host_id", "hostname", "verdict", "products", "os_id", "os_version", "os_name", "first_seen", "last_seen",
           "connected", "labels", "agent_version", "last_sequence", "platform", "incomplete"},
          {}};
  for (const auto& h : r.hosts()) {
    t.rows.push_back({h.host_id(), h.hostname(), ShortName(h.verdict()), JoinStrings(h.products(), ";"), h.os().id(),
                      h.os().version_id(), h.os().pretty_name(), FormatTimeFull(h.first_seen()),
                      FormatTimeFull(h.last_seen()), h.connected() ? "true" : "false", JoinStrings(h.labels(), ";"),
                      h.agent_version(), std::to_string(h.last_sequence()), PlatformKey(h.platform()),
                      h.incomplete() ? "true" : "false"});
  }
  return t;
}

// ---- events ----

Table EventsTable(const v1::ListEventsResponse& r) {
  Table t{{"ID", "TIME", "TYPE", "HOSTNAME", "PRODUCT", "CHANGE"}, {}};
  for (const auto& e : r.events()) {
    t.rows.push_back({std::to_string(e.id()), FormatTimeShort(e.time()), ShortName(e.type()), e.hostname(),
                      e.product_id(), DescribeChange(e)});
  }
  return t;
}

const std::vector<std::string>& EventCsvHeader() {
  static const std::vector<std::string> header = {"id",        "time",        "type",        "host_id",
                                                  "hostname",  "product_id",  "old_state",   "new_state",
                                                  "old_version", "new_version", "agent_time", "sequence"};
  return header;
}

std::vector<std::string> EventCsvRow(const v1::Event& e) {
  return {std::to_string(e.id()), FormatTimeFull(e.time()), ShortName(e.type()), e.host_id(), e.hostname(),
          e.product_id(), ShortName(e.old_state()), ShortName(e.new_state()), e.old_version(), e.new_version(),
          FormatTimeFull(e.agent_time()), std::to_string(e.sequence())};
}

// ---- host ----

// Evidence columns line up while their cells are shorter than this; an Uninstall key with its GUID is not.
constexpr size_t kEvidenceAlignWidth = 72;

std::string HostText(const v1::Host& host) {
  const auto& s = host.summary();
  const auto& f = host.facts();
  std::ostringstream out;
  Table facts{{"", ""}, {}};
  auto add = [&facts](const std::string& key, const std::string& value) {
    if (!value.empty()) facts.rows.push_back({key, value});
  };
  add("Host", s.hostname().empty() ? f.hostname() : s.hostname());
  add("Host id", s.host_id().empty() ? f.host_id() : s.host_id());
  add("Platform", PlatformText(s.platform() != v1::PLATFORM_UNSPECIFIED ? s.platform() : f.platform()));
  add("Verdict", ShortName(s.verdict()) + (s.incomplete() || host.failed_probes_size() > 0
                                               ? " (" + IncompleteNote(FailedProbeNames(host)) + ")"
                                               : ""));
  add("OS", f.os().pretty_name().empty() ? OsText(s.os()) : f.os().pretty_name() + " (" + OsText(f.os()) + ")");
  // Windows and macOS roots read offline have no running kernel to name.
  if (f.kernel().empty()) {
    add("Arch", f.arch());
  } else {
    add("Kernel", JoinStrings(std::vector<std::string>{f.kernel(), f.arch()}, " "));
  }
  add("Scanned root", f.root());
  add("Labels", JoinStrings(s.labels().empty() ? f.labels() : s.labels(), ", "));
  add("Agent", s.agent_version().empty() ? "" : s.agent_version() + (s.connected() ? ", connected" : ", not connected"));
  add("First seen", FormatTimeShort(s.first_seen()));
  add("Last seen", FormatTimeShort(s.last_seen()) +
                       (s.last_sequence() > 0 ? " (report " + std::to_string(s.last_sequence()) + ")" : ""));
  // The facts block has no header line: drop the rendered empty first line.
  std::string rendered = RenderTable(facts);
  out << rendered.substr(rendered.find('\n') + 1);

  if (host.failed_probes_size() > 0) {
    out << "\nFailed probes (the verdict covers only what could be read)\n";
    Table failed{{"", ""}, {}};
    for (const auto& p : host.failed_probes()) failed.rows.push_back({"  " + p.name(), p.message()});
    rendered = RenderTable(failed);
    out << rendered.substr(rendered.find('\n') + 1);
  }

  out << "\nFindings";
  if (host.findings_size() == 0) {
    out << ": none\n";
  } else {
    out << "\n";
    for (const auto& finding : host.findings()) {
      out << "  " << TerminalSafe(finding.product_id()) << "  " << TerminalSafe(finding.product_name()) << "  "
          << ShortName(finding.state());
      if (!finding.version().empty()) out << "  " << TerminalSafe(finding.version());
      if (finding.broken()) out << "  (broken package state)";
      if (!finding.note().empty()) out << "  (" << TerminalSafe(finding.note()) << ")";
      out << "\n";
      Table evidence{{"", "", ""}, {}, {0, kEvidenceAlignWidth}};
      for (const auto& e : finding.evidence()) {
        if (IsRecordEvidence(e.kind())) {
          // Where the record is (a registry key, a bundle), then what it says about itself.
          RecordText record = RecordTextOf(e);
          evidence.rows.push_back({"    " + ShortName(e.kind()), std::move(record.where), std::move(record.what)});
        } else {
          evidence.rows.push_back({"    " + ShortName(e.kind()), e.detail(), e.path()});
        }
      }
      rendered = RenderTable(evidence);
      out << rendered.substr(rendered.find('\n') + 1);
    }
  }

  out << "\nHistory (newest first)";
  if (host.history_size() == 0) {
    out << ": none\n";
  } else {
    out << "\n";
    Table t{{"ID", "TIME", "TYPE", "PRODUCT", "CHANGE"}, {}};
    for (const auto& e : host.history()) {
      t.rows.push_back(
          {std::to_string(e.id()), FormatTimeShort(e.time()), ShortName(e.type()), e.product_id(), DescribeChange(e)});
    }
    out << RenderTable(t);
  }
  return out.str();
}

Table HostCsv(const v1::Host& host) {
  // New columns go at the end: scripts that read columns by position keep working.
  Table t{{"host_id", "hostname", "verdict", "product_id", "product_name", "state", "version", "broken",
           "evidence_kind", "evidence_detail", "evidence_path", "evidence_implies", "sha256", "pid", "evidence_name",
           "evidence_version", "evidence_publisher", "note", "platform", "incomplete"},
          {}};
  const auto& s = host.summary();
  const std::string platform = PlatformKey(s.platform());
  const std::string incomplete = s.incomplete() ? "true" : "false";
  for (const auto& f : host.findings()) {
    auto row = [&](std::vector<std::string> evidence, std::vector<std::string> record) {
      std::vector<std::string> r = {s.host_id(), s.hostname(), ShortName(s.verdict()), f.product_id(),
                                    f.product_name(), ShortName(f.state()), f.version(),
                                    f.broken() ? "true" : "false"};
      r.insert(r.end(), evidence.begin(), evidence.end());
      r.insert(r.end(), record.begin(), record.end());
      r.insert(r.end(), {f.note(), platform, incomplete});
      return r;
    };
    if (f.evidence_size() == 0) t.rows.push_back(row({"", "", "", "", "", ""}, {"", "", ""}));
    for (const auto& e : f.evidence()) {
      t.rows.push_back(row({ShortName(e.kind()), e.detail(), e.path(), ShortName(e.implies()), e.sha256(),
                            e.pid() != 0 ? std::to_string(e.pid()) : ""},
                           {e.name(), e.version(), e.publisher()}));
    }
  }
  return t;
}

// ---- trend, scan ----

Table TrendTable(const v1::Trend& trend, bool csv) {
  Table t{csv ? std::vector<std::string>{"date", "affected_hosts", "running", "installed", "remnant", "clean"}
              : std::vector<std::string>{"DATE", "AFFECTED", "RUNNING", "INSTALLED", "REMNANT", "CLEAN"},
          {}};
  for (const auto& p : trend.points()) {
    t.rows.push_back({p.date(), std::to_string(p.affected_hosts()), std::to_string(p.running()),
                      std::to_string(p.installed()), std::to_string(p.remnant()), std::to_string(p.clean())});
  }
  return t;
}

Table ScanTable(const v1::RequestScanResponse& r, bool csv) {
  Table t{csv ? std::vector<std::string>{"host_id", "result"} : std::vector<std::string>{"HOST ID", "SCAN"}, {}};
  for (const auto& id : r.requested()) t.rows.push_back({id, "requested"});
  for (const auto& id : r.not_connected()) t.rows.push_back({id, csv ? "not_connected" : "not connected, skipped"});
  return t;
}

}  // namespace

std::string DescribeChange(const v1::Event& e) {
  const std::string old_state = ShortName(e.old_state());
  const std::string new_state = ShortName(e.new_state());
  std::string states;
  if (!old_state.empty() && !new_state.empty() && old_state != new_state) {
    states = old_state + " -> " + new_state;
  } else if (!old_state.empty() && new_state.empty()) {
    states = old_state + " -> gone";
  } else if (!new_state.empty()) {
    states = new_state;
  }
  std::string versions;
  if (!e.old_version().empty() && !e.new_version().empty() && e.old_version() != e.new_version()) {
    versions = e.old_version() + " -> " + e.new_version();
  } else if (!e.new_version().empty()) {
    versions = e.new_version();
  } else if (!e.old_version().empty()) {
    versions = e.old_version();
  }
  if (states.empty()) return versions;
  return versions.empty() ? states : states + ", " + versions;
}

std::string FormatSummary(const v1::Summary& summary, OutputFormat format) {
  switch (format) {
    case OutputFormat::kJson: return RenderJson(summary);
    case OutputFormat::kCsv: return RenderCsv(SummaryCsv(summary));
    case OutputFormat::kTable: break;
  }
  return SummaryText(summary);
}

std::string FormatHosts(const v1::ListHostsResponse& response, OutputFormat format) {
  switch (format) {
    case OutputFormat::kJson: return RenderJson(response);
    case OutputFormat::kCsv: return RenderCsv(HostsCsv(response));
    case OutputFormat::kTable: break;
  }
  if (response.hosts_size() == 0) return "No hosts match.\n";
  return RenderTable(HostsTable(response));
}

std::string FormatHost(const v1::Host& host, OutputFormat format) {
  switch (format) {
    case OutputFormat::kJson: return RenderJson(host);
    case OutputFormat::kCsv: return RenderCsv(HostCsv(host));
    case OutputFormat::kTable: break;
  }
  return HostText(host);
}

std::string FormatEvents(const v1::ListEventsResponse& response, OutputFormat format) {
  switch (format) {
    case OutputFormat::kJson: return RenderJson(response);
    case OutputFormat::kCsv: {
      Table t{EventCsvHeader(), {}};
      for (const auto& e : response.events()) t.rows.push_back(EventCsvRow(e));
      return RenderCsv(t);
    }
    case OutputFormat::kTable: break;
  }
  if (response.events_size() == 0) return "No events.\n";
  return RenderTable(EventsTable(response));
}

std::string FormatTrend(const v1::Trend& trend, OutputFormat format) {
  switch (format) {
    case OutputFormat::kJson: return RenderJson(trend);
    case OutputFormat::kCsv: return RenderCsv(TrendTable(trend, true));
    case OutputFormat::kTable: break;
  }
  return RenderTable(TrendTable(trend, false));
}

std::string FormatScan(const v1::RequestScanResponse& response, OutputFormat format) {
  switch (format) {
    case OutputFormat::kJson: return RenderJson(response);
    case OutputFormat::kCsv: return RenderCsv(ScanTable(response, true));
    case OutputFormat::kTable: break;
  }
  std::string out = "Scan requested on " + std::to_string(response.requested_size()) + " host(s)";
  if (response.not_connected_size() > 0) {
    out += "; " + std::to_string(response.not_connected_size()) + " selected host(s) not connected, skipped";
  }
  out += ".\n";
  if (response.requested_size() + response.not_connected_size() > 0) out += RenderTable(ScanTable(response, false));
  return out;
}

namespace {

std::string RoleText(v1::TokenRole role) {
  switch (role) {
    case v1::TOKEN_ROLE_VIEWER: return "viewer";
    case v1::TOKEN_ROLE_ADMIN: return "admin";
    default: return "?";
  }
}

std::string TokenState(const v1::ApiToken& t, const google::protobuf::Timestamp& now) {
  if (t.revoked()) return "revoked";
  if (IsSet(t.expires()) && t.expires().seconds() <= now.seconds()) return "expired";
  return "live";
}

Table TokensTable(const v1::ListTokensResponse& r, bool csv) {
  const auto now = Now();
  auto time = [csv](const google::protobuf::Timestamp& t) {
    if (!IsSet(t)) return std::string(csv ? "" : "-");
    return csv ? FormatTimeFull(t) : FormatTimeShort(t);
  };
  Table t{csv ? std::vector<std::string>{"id", "name", "role", "created", "expires", "last_used", "state"}
              : std::vector<std::string>{"ID", "NAME", "ROLE", "CREATED", "EXPIRES", "LAST USED", "STATE"},
          {}};
  for (const auto& k : r.tokens()) {
    t.rows.push_back({k.id(), k.name(), RoleText(k.role()), time(k.created()), time(k.expires()),
                      time(k.last_used()), TokenState(k, now)});
  }
  return t;
}

}  // namespace

std::string FormatNewToken(const v1::CreateTokenResponse& response, OutputFormat format) {
  switch (format) {
    case OutputFormat::kJson: return RenderJson(response);
    case OutputFormat::kCsv: {
      Table t{{"id", "name", "role", "expires", "token"}, {}};
      const auto& k = response.token();
      t.rows.push_back({k.id(), k.name(), RoleText(k.role()), IsSet(k.expires()) ? FormatTimeFull(k.expires()) : "",
                        response.secret()});
      return RenderCsv(t);
    }
    case OutputFormat::kTable: break;
  }
  // The token alone on stdout, so `ksweep tokens create ... > file` keeps just it; the rest is for the person.
  return response.secret() + "\n";
}

std::string FormatTokens(const v1::ListTokensResponse& response, OutputFormat format) {
  switch (format) {
    case OutputFormat::kJson: return RenderJson(response);
    case OutputFormat::kCsv: return RenderCsv(TokensTable(response, true));
    case OutputFormat::kTable: break;
  }
  if (response.tokens_size() == 0) return "No tokens.\n";
  return RenderTable(TokensTable(response, false));
}

std::string FormatRevokedToken(const v1::ApiToken& token, OutputFormat format) {
  switch (format) {
    case OutputFormat::kJson: return RenderJson(token);
    case OutputFormat::kCsv: {
      v1::ListTokensResponse one;
      *one.add_tokens() = token;
      return RenderCsv(TokensTable(one, true));
    }
    case OutputFormat::kTable: break;
  }
  return "Token " + TerminalSafe(token.name()) + " (id " + token.id() + ") revoked.\n";
}

std::string FormatHostRevoke(const v1::RevokeHostResponse& response, OutputFormat format) {
  switch (format) {
    case OutputFormat::kJson: return RenderJson(response);
    case OutputFormat::kCsv:
      return RenderCsv(Table{{"host_id", "certificates_revoked"},
                             {{response.host_id(), std::to_string(response.certificates_revoked())}}});
    case OutputFormat::kTable: break;
  }
  return "Host " + response.host_id() + ": " + std::to_string(response.certificates_revoked()) +
         " certificate(s) revoked; its agent is disconnected and cannot connect again until it is enrolled again.\n";
}

std::string EventStreamHeader(OutputFormat format) {
  if (format != OutputFormat::kCsv) return "";
  return RenderCsv(Table{EventCsvHeader(), {}});
}

std::string FormatEventLine(const v1::Event& event, OutputFormat format) {
  switch (format) {
    case OutputFormat::kJson: return RenderJsonLine(event);
    case OutputFormat::kCsv: {
      // The header is printed once by EventStreamHeader(): render one row and cut the header line off.
      std::string csv = RenderCsv(Table{EventCsvHeader(), {EventCsvRow(event)}});
      return csv.substr(csv.find('\n') + 1);
    }
    case OutputFormat::kTable: break;
  }
  std::string line = std::to_string(event.id()) + "  " + FormatTimeShort(event.time()) + "  " +
                     ShortName(event.type()) + "  " + event.hostname();
  if (!event.product_id().empty()) line += "  " + event.product_id();
  const std::string change = DescribeChange(event);
  if (!change.empty()) line += "  " + change;
  return TerminalSafe(line) + "\n";
}

}  // namespace ksweep::cli
