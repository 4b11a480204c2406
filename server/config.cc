#include "server/config.h"

// GCC 12 reports a null dereference inside Boost's typed_value<std::string>::notify (boost::any_cast inlined into
// std::string::operator=) that cannot happen: any_cast of the stored type never returns null there.
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/program_options.hpp>

#include <fstream>
#include <sstream>

namespace ksweep::server {

namespace po = boost::program_options;

Result<int64_t> ParseDurationSeconds(const std::string& text, const std::string& what) {
  const auto bad = [&] {
    return Status::InvalidArgument(what + " '" + text + "': expected a duration like 90s, 15m, 24h or 7d");
  };
  if (text.empty()) return bad();
  size_t used = 0;
  long long n = 0;
  try {
    n = std::stoll(text, &used);
  } catch (const std::exception&) {
    return bad();
  }
  if (n < 0) return bad();
  const std::string unit = text.substr(used);
  int64_t mult = 0;
  if (unit.empty() || unit == "s") {
    mult = 1;
  } else if (unit == "m") {
    mult = 60;
  } else if (unit == "h") {
    mult = 3600;
  } else if (unit == "d") {
    mult = 86400;
  } else {
    return bad();
  }
  return static_cast<int64_t>(n) * mult;
}

Result<ServeCommand> ParseServeArgs(const std::vector<std::string>& args) {
  ServeCommand cmd;
  CollectorOptions& o = cmd.options;
  std::string config_file, stale_after = "24h", expire_after = "0", idle_timeout = "300s", sweep_interval = "60s";
  std::string cert_lifetime = "365d";
  po::options_description flags("ksweep-collector serve");
  // clang-format off
  flags.add_options()
    ("help,h", "print this help")
    ("data", po::value(&o.data_dir), "data directory (SQLite database ksweep.db, collector.ports); required")
    ("agent-listen", po::value(&o.agent_listen)->default_value(o.agent_listen), "address for agents (port 0: any)")
    ("api-listen", po::value(&o.api_listen)->default_value(o.api_listen), "address for the fleet API (port 0: any)")
    ("config", po::value(&config_file), "config file: the same keys as these flags, key=value per line")
    ("log-level", po::value(&cmd.log.level)->default_value(cmd.log.level), "trace, debug, info, warn, error")
    ("log-file", po::value(&cmd.log.file), "log to this file instead of stderr")
    ("rules", po::value(&o.rules_file),
        "detection rules file (JSON, as ksweep-agent --rules): sent to every agent reporting another rules version; "
        "re-read on SIGHUP")
    ("insecure", po::bool_switch(&cmd.insecure),
        "plain-text gRPC on the agent port: no TLS, no enrollment, no identity checks (default: mutual TLS with the "
        "certificates of DATA/pki, made by `ksweep-collector init`)")
    ("cert-lifetime", po::value(&cert_lifetime)->default_value(cert_lifetime),
        "lifetime of the agent certificates signed at enrollment and renewal")
    ("enroll-rate", po::value(&o.enroll.per_minute)->default_value(o.enroll.per_minute),
        "enrollment attempts per minute one source address may make (sustained)")
    ("enroll-burst", po::value(&o.enroll.burst)->default_value(o.enroll.burst),
        "enrollment attempts one source address may make at once")
    ("api-rate", po::value(&o.api_auth.requests_per_second)->default_value(o.api_auth.requests_per_second),
        "fleet API requests per second one token may make (sustained; past it RESOURCE_EXHAUSTED)")
    ("api-burst", po::value(&o.api_auth.request_burst)->default_value(o.api_auth.request_burst),
        "fleet API requests one token may make at once")
    ("stale-after", po::value(&stale_after)->default_value(stale_after), "a host not heard from this long is STALE")
    ("expire-after", po::value(&expire_after)->default_value(expire_after),
        "remove hosts labelled --expire-label not heard from this long (0: never); their history stays")
    ("expire-label", po::value(&o.expire_label)->default_value(o.expire_label), "label of expirable hosts")
    ("sweep-interval", po::value(&sweep_interval)->default_value(sweep_interval), "how often the stale sweep runs")
    ("heartbeat-interval", po::value(&o.agent.heartbeat_interval_seconds)
        ->default_value(o.agent.heartbeat_interval_seconds), "seconds between agent heartbeats (told in Welcome)")
    ("idle-timeout", po::value(&idle_timeout)->default_value(idle_timeout),
        "close an agent stream silent this long")
    ("max-message-bytes", po::value(&o.agent.max_receive_message_bytes)
        ->default_value(o.agent.max_receive_message_bytes), "largest agent message accepted")
    ("max-findings", po::value(&o.agent.max_findings_per_report)->default_value(o.agent.max_findings_per_report),
        "findings per report at most")
    ("max-evidence", po::value(&o.agent.max_evidence_per_finding)->default_value(o.agent.max_evidence_per_finding),
        "evidence items per finding at most")
    ("agent-rate", po::value(&o.agent.messages_per_second)->default_value(o.agent.messages_per_second),
        "messages per second one agent stream may send (sustained)")
    ("agent-burst", po::value(&o.agent.message_burst)->default_value(o.agent.message_burst),
        "messages one agent stream may send at once")
    ("max-inflight", po::value(&o.agent.max_inflight_reports)->default_value(o.agent.max_inflight_reports),
        "unacknowledged reports per stream before it stops being read")
    ("keepalive-time-ms", po::value(&o.agent.keepalive_time_ms)->default_value(o.agent.keepalive_time_ms),
        "HTTP/2 keepalive ping interval on agent connections")
    ("keepalive-timeout-ms", po::value(&o.agent.keepalive_timeout_ms)->default_value(o.agent.keepalive_timeout_ms),
        "keepalive ping answer time-out")
    ("watch-queue-limit", po::value(&o.fleet.watch_queue_limit)->default_value(o.fleet.watch_queue_limit),
        "events queued for one slow WatchEvents client before it is cut off");
  // clang-format on
  std::ostringstream help;
  help << "usage: ksweep-collector serve --data DIR [--agent-listen ADDR] [--api-listen ADDR] [--config FILE]\n"
       << flags;
  cmd.help_text = help.str();

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(flags).run(), vm);
    if (vm.count("config") != 0) {
      const std::string path = vm["config"].as<std::string>();
      std::ifstream in(path);
      if (!in) return Status::InvalidArgument("--config '" + path + "': cannot read");
      // Flags stored first win over the file.
      po::store(po::parse_config_file(in, flags), vm);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    return Status::InvalidArgument(e.what());
  }
  if (vm.count("help") != 0) {
    cmd.help = true;
    return cmd;
  }
  if (o.data_dir.empty()) return Status::InvalidArgument("--data DIR is required");
  auto stale = ParseDurationSeconds(stale_after, "--stale-after");
  if (!stale.ok()) return stale.status();
  if (*stale == 0) return Status::InvalidArgument("--stale-after: must be more than 0");
  o.stale_after = *stale * kMicrosPerSecond;
  auto expire = ParseDurationSeconds(expire_after, "--expire-after");
  if (!expire.ok()) return expire.status();
  o.expire_after = *expire * kMicrosPerSecond;
  auto idle = ParseDurationSeconds(idle_timeout, "--idle-timeout");
  if (!idle.ok()) return idle.status();
  if (*idle == 0) return Status::InvalidArgument("--idle-timeout: must be more than 0");
  o.agent.idle_timeout_seconds = *idle;
  auto sweep = ParseDurationSeconds(sweep_interval, "--sweep-interval");
  if (!sweep.ok()) return sweep.status();
  if (*sweep == 0) return Status::InvalidArgument("--sweep-interval: must be more than 0");
  o.sweep_interval_seconds = *sweep;
  if (o.agent.max_receive_message_bytes < 1024) {
    return Status::InvalidArgument("--max-message-bytes: at least 1024");
  }
  if (o.agent.max_findings_per_report < 1 || o.agent.max_evidence_per_finding < 1 ||
      o.agent.max_inflight_reports < 1) {
    return Status::InvalidArgument("--max-findings, --max-evidence and --max-inflight: at least 1");
  }
  if (o.agent.messages_per_second <= 0 || o.agent.message_burst < 1) {
    return Status::InvalidArgument("--agent-rate: more than 0; --agent-burst: at least 1");
  }
  if (o.agent.heartbeat_interval_seconds == 0) return Status::InvalidArgument("--heartbeat-interval: at least 1");
  auto lifetime = ParseDurationSeconds(cert_lifetime, "--cert-lifetime");
  if (!lifetime.ok()) return lifetime.status();
  if (*lifetime < 3600) return Status::InvalidArgument("--cert-lifetime: at least 1h");
  o.pki.cert_lifetime_seconds = *lifetime;
  if (o.enroll.per_minute <= 0 || o.enroll.burst < 1) {
    return Status::InvalidArgument("--enroll-rate: more than 0; --enroll-burst: at least 1");
  }
  if (o.api_auth.requests_per_second <= 0 || o.api_auth.request_burst < 1) {
    return Status::InvalidArgument("--api-rate: more than 0; --api-burst: at least 1");
  }
  o.insecure = cmd.insecure;
  return cmd;
}

}  // namespace ksweep::server
