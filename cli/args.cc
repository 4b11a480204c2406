#include "cli/args.h"

#include <boost/program_options.hpp>

#include <cctype>
#include <sstream>

#include "cli/names.h"
#include "cli/times.h"

namespace po = boost::program_options;

namespace ksweep::cli {
namespace {

using google::protobuf::Timestamp;

constexpr unsigned kLineLength = 110;  // help text width

constexpr const char* kCommandsText =
    "commands:\n"
    "  summary                 hosts by verdict, platform, product and OS; stale and affected counts\n"
    "  hosts [filters]         the hosts a filter selects (every page, up to --limit)\n"
    "  host NAME|ID            one host: facts, findings with evidence, history\n"
    "  events [--follow]       what changed: detections, removals, version changes, stale hosts\n"
    "  trend [--days N]        affected hosts per day: the burn-down\n"
    "  scan HOST|filters|--all ask connected agents to scan now (admin)\n"
    "  hosts revoke HOST       revoke a host's agent certificate and drop its connection (admin)\n"
    "  tokens create NAME --role viewer|admin [--expires 30d]\n"
    "                          make an API token, printed once (admin)\n"
    "  tokens list             every API token, never their texts (admin)\n"
    "  tokens revoke NAME|ID   revoke an API token (admin)\n"
    "  version                 print the ksweep version\n"
    "\n"
    "Run 'ksweep COMMAND --help' for the options of a command.\n"
    "TLS by default: --ca-cert FILE or $KSWEEP_CA_CERT; the API token from $KSWEEP_TOKEN, or a file\n"
    "(--token-file FILE or $KSWEEP_TOKEN_FILE). --insecure talks plain text to an --insecure collector.\n"
    "Exit codes: 0 ok, 1 other error, 2 bad usage or invalid filter, 3 host or token not found, 4 collector\n"
    "unreachable, 5 refused: token missing, invalid, revoked or expired, or its role does not allow the call.\n";

po::options_description GlobalDescription() {
  po::options_description d("global options (before or after the command)", kLineLength);
  d.add_options()
      ("server", po::value<std::string>(), "collector fleet API HOST:PORT (default $KSWEEP_SERVER, else 127.0.0.1:7444)")
      ("output,o", po::value<std::string>(), "table (default), json (proto JSON mapping) or csv (RFC 4180)")
      ("timeout", po::value<std::string>(), "deadline of each RPC: 10 (seconds, the default), 2.5s, 500ms, 1m")
      ("ca-cert", po::value<std::string>(), "CA certificate (PEM) the collector's certificate must chain to "
       "(default $KSWEEP_CA_CERT)")
      ("token-file", po::value<std::string>(), "file holding the API token (default $KSWEEP_TOKEN, else "
       "$KSWEEP_TOKEN_FILE); never the token on the command line")
      ("insecure", "plain-text gRPC to a collector started with --insecure (no TLS, no token sent)")
      ("verbose,v", "diagnostics on stderr (RPCs, timings)")
      ("help,h", "show help");
  return d;
}

void AddFilterOptions(po::options_description& d) {
  d.add_options()
      ("verdict", po::value<std::string>(), "comma list of running, installed, remnant, clean, stale")
      ("platform", po::value<std::string>(), "comma list of linux, windows, macos")
      ("product", po::value<std::string>(), "hosts with a finding of this product id (e.g. kesl)")
      ("version", po::value<std::string>(), "... at this version")
      ("os", po::value<std::string>(), "os-release ID or \"ID VERSION_ID\", e.g. debian or \"debian 12\"")
      ("hostname", po::value<std::string>(), "hostname shell glob, e.g. 'web-*'")
      ("label", po::value<std::string>(), "hosts with this label")
      ("seen-after", po::value<std::string>(), "last seen at or after: RFC 3339, a date, or an age (24h, 7d)")
      ("seen-before", po::value<std::string>(), "last seen before: RFC 3339, a date, or an age")
      ("filter", po::value<std::string>(),
       "filter expression, ANDed with the flags: 'verdict=running,installed platform=windows'");
}

// "30d", "12h", "90m", "45s" -> seconds, 1 s to 10 years.
Result<int64_t> ParseLifetime(const std::string& text) {
  const auto bad = Status::InvalidArgument("--expires '" + text + "': expected a lifetime like 30d, 12h, 90m or 45s");
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 9 || i + 1 != text.size()) return bad;
  const int64_t n = std::stoll(text.substr(0, i));
  int64_t unit = 0;
  switch (text[i]) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    default: return bad;
  }
  if (n < 1 || n * unit > 10LL * 365 * 86400) return bad;
  return n * unit;
}

std::string Get(const po::variables_map& vm, const char* name) {
  return vm.count(name) ? vm[name].as<std::string>() : std::string();
}

// Fills `filter` from the filter flags; returns whether any was given.
Result<bool> BuildFilter(const po::variables_map& vm, const Timestamp& now, v1::HostFilter* filter) {
  bool any = false;
  if (vm.count("verdict")) {
    auto verdicts = ParseVerdicts(Get(vm, "verdict"), "--verdict");
    if (!verdicts.ok()) return verdicts.status();
    for (v1::Verdict v : *verdicts) filter->add_verdicts(v);
    any = true;
  }
  if (vm.count("platform")) {
    auto platforms = ParsePlatforms(Get(vm, "platform"), "--platform");
    if (!platforms.ok()) return platforms.status();
    for (v1::Platform p : *platforms) filter->add_platforms(p);
    any = true;
  }
  struct TextFlag {
    const char* name;
    std::string* field;
  };
  for (const TextFlag& f : {TextFlag{"product", filter->mutable_product_id()},
                            TextFlag{"version", filter->mutable_version()}, TextFlag{"os", filter->mutable_os()},
                            TextFlag{"hostname", filter->mutable_hostname_glob()},
                            TextFlag{"label", filter->mutable_label()}, TextFlag{"filter", filter->mutable_expr()}}) {
    if (!vm.count(f.name)) continue;
    *f.field = Get(vm, f.name);
    if (f.field->empty()) return Status::InvalidArgument(std::string("--") + f.name + ": empty value");
    any = true;
  }
  if (vm.count("seen-after")) {
    auto t = ParseTime(Get(vm, "seen-after"), now, "--seen-after");
    if (!t.ok()) return t.status();
    *filter->mutable_seen_after() = *t;
    any = true;
  }
  if (vm.count("seen-before")) {
    auto t = ParseTime(Get(vm, "seen-before"), now, "--seen-before");
    if (!t.ok()) return t.status();
    *filter->mutable_seen_before() = *t;
    any = true;
  }
  return any;
}

Status ParsePaging(const po::variables_map& vm, int32_t* page_size, int64_t* limit) {
  if (vm.count("page-size")) {
    const int value = vm["page-size"].as<int>();
    if (value < 1 || value > kMaxPageSize) {
      return Status::InvalidArgument("--page-size: " + std::to_string(value) + " is out of range (1 to " +
                                     std::to_string(kMaxPageSize) + ")");
    }
    *page_size = value;
  }
  if (vm.count("limit") && vm.count("all")) return Status::InvalidArgument("--limit and --all exclude each other");
  if (vm.count("limit")) {
    const int64_t value = vm["limit"].as<int64_t>();
    if (value < 0) return Status::InvalidArgument("--limit: must not be negative (0 means no limit)");
    *limit = value;
  }
  if (vm.count("all")) *limit = 0;
  return Status::Ok();
}

void AddPagingOptions(po::options_description& d, const char* what) {
  d.add_options()
      ("limit", po::value<int64_t>(), (std::string("stop after this many ") + what + " (default 10000; 0: no limit)").c_str())
      ("all", (std::string("all ") + what + ": follow page tokens to the end (same as --limit 0)").c_str())
      ("page-size", po::value<int>(), "rows per RPC while following pages (1 to 1000, default 500)")
      ("page-token", po::value<std::string>(), "start from this page token (from a previous JSON answer)");
}

std::string Help(const std::string& synopsis, const po::options_description& command) {
  std::ostringstream out;
  out << "usage: " << synopsis << "\n\n" << command << "\n" << GlobalDescription();
  return out.str();
}

struct Parsed {
  po::variables_map vm;
};

Result<Parsed> ParseCommandOptions(const std::vector<std::string>& args, const po::options_description& desc,
                                   const po::positional_options_description& positional) {
  Parsed p;
  try {
    po::store(po::command_line_parser(args).options(desc).positional(positional).run(), p.vm);
    po::notify(p.vm);
  } catch (const po::too_many_positional_options_error&) {
    return Status::InvalidArgument("unexpected argument (a value without its option, or one name too many)");
  } catch (const po::error& e) {
    return Status::InvalidArgument(e.what());
  }
  return p;
}

Status ParseGlobal(const po::variables_map& vm, const char* env_server, GlobalOptions* g) {
  if (vm.count("server")) {
    g->server = vm["server"].as<std::string>();
    if (g->server.empty()) return Status::InvalidArgument("--server: empty address (expected HOST:PORT)");
  } else if (env_server != nullptr && *env_server != '\0') {
    g->server = env_server;
  }
  if (vm.count("output")) {
    const std::string o = vm["output"].as<std::string>();
    if (o == "table") {
      g->output = OutputFormat::kTable;
    } else if (o == "json") {
      g->output = OutputFormat::kJson;
    } else if (o == "csv") {
      g->output = OutputFormat::kCsv;
    } else {
      return Status::InvalidArgument("-o/--output: unknown format '" + o + "' (expected table, json or csv)");
    }
  }
  if (vm.count("timeout")) {
    auto t = ParseDuration(vm["timeout"].as<std::string>(), "--timeout");
    if (!t.ok()) return t.status();
    g->timeout = *t;
  }
  g->verbose = vm.count("verbose") > 0;
  g->insecure = vm.count("insecure") > 0;
  if (vm.count("ca-cert")) {
    g->ca_cert = vm["ca-cert"].as<std::string>();
    if (g->ca_cert.empty()) return Status::InvalidArgument("--ca-cert: empty file name");
  }
  if (vm.count("token-file")) {
    g->token_file = vm["token-file"].as<std::string>();
    if (g->token_file.empty()) return Status::InvalidArgument("--token-file: empty file name");
  }
  return Status::Ok();
}

}  // namespace

std::string Usage() {
  std::ostringstream out;
  out << "usage: ksweep [--server HOST:PORT] [--ca-cert FILE] [--token-file FILE] [--insecure] [-o table|json|csv]\n"
      << "              [--timeout T] COMMAND [options]\n\n"
      << kCommandsText << "\n"
      << GlobalDescription();
  return out.str();
}

Result<Invocation> ParseArgs(const std::vector<std::string>& args, const char* env_server, const Timestamp& now) {
  Invocation inv;
  if (args.size() == 1 && args[0] == "--version") {
    inv.command = Command::kVersion;
    return inv;
  }

  // Pass 1: global options anywhere, the command word, everything else kept in order for pass 2. Command options
  // are unknown here, so their values come through as positionals, in place.
  const po::options_description global = GlobalDescription();
  po::options_description pass1;
  pass1.add(global).add_options()("command", po::value<std::string>())("args", po::value<std::vector<std::string>>());
  po::positional_options_description pos1;
  pos1.add("command", 1).add("args", -1);
  po::variables_map gvm;
  std::vector<std::string> rest;
  try {
    po::parsed_options parsed = po::command_line_parser(args).options(pass1).positional(pos1).allow_unregistered().run();
    po::store(parsed, gvm);
    po::notify(gvm);
    rest = po::collect_unrecognized(parsed.options, po::include_positional);
  } catch (const po::error& e) {
    return Status::InvalidArgument(e.what());
  }
  if (Status s = ParseGlobal(gvm, env_server, &inv.global); !s.ok()) return s;
  const bool help = gvm.count("help") > 0;
  if (!gvm.count("command")) {
    if (help) {
      inv.help = Usage();
      return inv;
    }
    if (!rest.empty()) return Status::InvalidArgument("unknown option '" + rest.front() + "'");
    return Status::InvalidArgument("no command given");
  }
  const std::string command = gvm["command"].as<std::string>();
  // `rest` holds the command word first, unless an unknown option came before it.
  if (rest.empty() || rest.front() != command) {
    return Status::InvalidArgument("unknown option '" + (rest.empty() ? command : rest.front()) +
                                   "' (command options go after the command)");
  }
  rest.erase(rest.begin());

  po::positional_options_description none;
  po::positional_options_description one_host;
  one_host.add("host", 1);

  if (command == "help") {
    inv.help = Usage();
    return inv;
  }
  if (command == "version") {
    inv.command = Command::kVersion;
    return inv;
  }
  if (command == "summary") {
    po::options_description d("summary options", kLineLength);
    if (help) {
      inv.help = Help("ksweep summary", d);
      return inv;
    }
    auto p = ParseCommandOptions(rest, d, none);
    if (!p.ok()) return Status::InvalidArgument("summary: " + p.status().message());
    inv.command = Command::kSummary;
    return inv;
  }
  if (command == "hosts" && !rest.empty() && rest.front() == "revoke") {
    rest.erase(rest.begin());
    po::options_description d("hosts revoke options", kLineLength);
    d.add_options()("host", po::value<std::string>(), "host id or hostname")(
        "reason", po::value<std::string>(), "why, kept in the collector's audit log");
    if (help) {
      inv.help = Help("ksweep hosts revoke HOST [--reason TEXT]", d);
      return inv;
    }
    auto p = ParseCommandOptions(rest, d, one_host);
    if (!p.ok()) return Status::InvalidArgument("hosts revoke: " + p.status().message());
    inv.host_revoke.set_host(Get(p->vm, "host"));
    if (inv.host_revoke.host().empty()) return Status::InvalidArgument("hosts revoke: give a HOST (id or hostname)");
    inv.host_revoke.set_reason(p->vm.count("reason") ? Get(p->vm, "reason") : "revoked with ksweep hosts revoke");
    inv.command = Command::kHostsRevoke;
    return inv;
  }
  if (command == "tokens") {
    const std::string verb = rest.empty() ? "" : rest.front();
    if (!rest.empty()) rest.erase(rest.begin());
    po::positional_options_description one_name;
    one_name.add("name", 1);
    if (verb == "create") {
      po::options_description d("tokens create options", kLineLength);
      d.add_options()("name", po::value<std::string>(), "token name: letters, digits and . _ @ - (1 to 64)")(
          "role", po::value<std::string>(), "viewer (reads the fleet) or admin (also scans, revocations, tokens)")(
          "expires", po::value<std::string>(), "lifetime, e.g. 30d, 12h, 90m (default: never expires)");
      if (help) {
        inv.help = Help("ksweep tokens create NAME --role viewer|admin [--expires 30d]", d);
        return inv;
      }
      auto p = ParseCommandOptions(rest, d, one_name);
      if (!p.ok()) return Status::InvalidArgument("tokens create: " + p.status().message());
      auto& r = inv.token_create;
      r.set_name(Get(p->vm, "name"));
      if (r.name().empty()) return Status::InvalidArgument("tokens create: give a NAME");
      const std::string role = Get(p->vm, "role");
      if (role == "viewer") {
        r.set_role(v1::TOKEN_ROLE_VIEWER);
      } else if (role == "admin") {
        r.set_role(v1::TOKEN_ROLE_ADMIN);
      } else {
        return Status::InvalidArgument("tokens create: --role: expected viewer or admin" +
                                       (role.empty() ? std::string() : ", got '" + role + "'"));
      }
      if (p->vm.count("expires")) {
        auto seconds = ParseLifetime(Get(p->vm, "expires"));
        if (!seconds.ok()) return seconds.status();
        r.set_expires_in_seconds(*seconds);
      }
      inv.command = Command::kTokensCreate;
      return inv;
    }
    if (verb == "list") {
      po::options_description d("tokens list options", kLineLength);
      if (help) {
        inv.help = Help("ksweep tokens list [-o table|json|csv]", d);
        return inv;
      }
      auto p = ParseCommandOptions(rest, d, none);
      if (!p.ok()) return Status::InvalidArgument("tokens list: " + p.status().message());
      inv.command = Command::kTokensList;
      return inv;
    }
    if (verb == "revoke") {
      po::options_description d("tokens revoke options", kLineLength);
      d.add_options()("name", po::value<std::string>(), "a live token's name, or a token id");
      if (help) {
        inv.help = Help("ksweep tokens revoke NAME|ID", d);
        return inv;
      }
      auto p = ParseCommandOptions(rest, d, one_name);
      if (!p.ok()) return Status::InvalidArgument("tokens revoke: " + p.status().message());
      inv.token_revoke.set_token(Get(p->vm, "name"));
      if (inv.token_revoke.token().empty()) return Status::InvalidArgument("tokens revoke: give a NAME or ID");
      inv.command = Command::kTokensRevoke;
      return inv;
    }
    if (help) {
      inv.help = "usage: ksweep tokens create NAME --role viewer|admin [--expires 30d]\n"
                 "       ksweep tokens list\n"
                 "       ksweep tokens revoke NAME|ID\n";
      return inv;
    }
    return Status::InvalidArgument("tokens: expected create, list or revoke" +
                                   (verb.empty() ? std::string() : ", got '" + verb + "'"));
  }
  if (command == "hosts") {
    po::options_description d("hosts options", kLineLength);
    AddFilterOptions(d);
    d.add_options()("order", po::value<std::string>(), "hostname (default), last-seen (newest first), verdict");
    AddPagingOptions(d, "hosts");
    if (help) {
      inv.help = Help("ksweep hosts [filters] [--order O] [--limit N|--all] [-o table|json|csv]", d);
      return inv;
    }
    auto p = ParseCommandOptions(rest, d, none);
    if (!p.ok()) return Status::InvalidArgument("hosts: " + p.status().message());
    auto& r = inv.hosts.request;
    if (auto f = BuildFilter(p->vm, now, r.mutable_filter()); !f.ok()) return f.status();
    if (p->vm.count("order")) {
      auto order = ParseHostOrder(Get(p->vm, "order"), "--order");
      if (!order.ok()) return order.status();
      r.set_order_by(*order);
    }
    int32_t page_size = kDefaultPageSize;
    if (Status s = ParsePaging(p->vm, &page_size, &inv.hosts.limit); !s.ok()) return s;
    r.set_page_size(page_size);
    r.set_page_token(Get(p->vm, "page-token"));
    inv.command = Command::kHosts;
    return inv;
  }
  if (command == "host") {
    po::options_description d("host options", kLineLength);
    d.add_options()("host", po::value<std::string>(), "hostname or host id")(
        "history", po::value<int>(), "newest history events to show (default 100)");
    if (help) {
      inv.help = Help("ksweep host NAME|ID [--history N]", d);
      return inv;
    }
    auto p = ParseCommandOptions(rest, d, one_host);
    if (!p.ok()) return Status::InvalidArgument("host: " + p.status().message());
    if (!p->vm.count("host") || Get(p->vm, "host").empty()) {
      return Status::InvalidArgument("host: which host? give a hostname or host id");
    }
    inv.host.set_host(Get(p->vm, "host"));
    if (p->vm.count("history")) {
      const int n = p->vm["history"].as<int>();
      if (n < 1 || n > 10000) return Status::InvalidArgument("--history: " + std::to_string(n) + " is out of range (1 to 10000)");
      inv.host.set_history_limit(n);
    }
    inv.command = Command::kHost;
    return inv;
  }
  if (command == "events") {
    po::options_description d("events options", kLineLength);
    d.add_options()
        ("host", po::value<std::string>(), "only this host (hostname or host id)")
        ("type", po::value<std::string>(),
         "comma list of detected, removed, version-changed, reappeared, went-stale, came-back, state-changed")
        ("since", po::value<std::string>(), "events at or after: RFC 3339, a date, or an age (1h, 7d)")
        ("follow,f", "stream new events until interrupted (after listing those --since, if given)")
        ("after-id", po::value<int64_t>(), "with --follow: first replay stored events with an id above this");
    AddPagingOptions(d, "events");
    if (help) {
      inv.help = Help("ksweep events [--host H] [--type T] [--since TIME] [--follow] [-o table|json|csv]", d);
      return inv;
    }
    auto p = ParseCommandOptions(rest, d, none);
    if (!p.ok()) return Status::InvalidArgument("events: " + p.status().message());
    auto& e = inv.events;
    e.request.set_host(Get(p->vm, "host"));
    if (p->vm.count("type")) {
      auto types = ParseEventTypes(Get(p->vm, "type"), "--type");
      if (!types.ok()) return types.status();
      for (v1::EventType t : *types) e.request.add_types(t);
    }
    if (p->vm.count("since")) {
      auto t = ParseTime(Get(p->vm, "since"), now, "--since");
      if (!t.ok()) return t.status();
      *e.request.mutable_since() = *t;
      e.list_first = true;
    }
    e.follow = p->vm.count("follow") > 0;
    if (p->vm.count("after-id")) {
      if (!e.follow) return Status::InvalidArgument("--after-id needs --follow (use --since to list stored events)");
      if (e.list_first) return Status::InvalidArgument("--after-id and --since exclude each other");
      e.after_id = p->vm["after-id"].as<int64_t>();
      if (e.after_id < 0) return Status::InvalidArgument("--after-id: must not be negative");
    }
    int32_t page_size = kDefaultPageSize;
    if (Status s = ParsePaging(p->vm, &page_size, &e.limit); !s.ok()) return s;
    e.request.set_page_size(page_size);
    e.request.set_page_token(Get(p->vm, "page-token"));
    if (!e.follow) e.list_first = true;
    inv.command = Command::kEvents;
    return inv;
  }
  if (command == "trend") {
    po::options_description d("trend options", kLineLength);
    d.add_options()("days", po::value<int>(), "the last N days including today, UTC (default 30, at most 3660)");
    if (help) {
      inv.help = Help("ksweep trend [--days N]", d);
      return inv;
    }
    auto p = ParseCommandOptions(rest, d, none);
    if (!p.ok()) return Status::InvalidArgument("trend: " + p.status().message());
    int days = 30;
    if (p->vm.count("days")) days = p->vm["days"].as<int>();
    if (days < 1 || days > kMaxTrendDays) {
      return Status::InvalidArgument("--days: " + std::to_string(days) + " is out of range (1 to " +
                                     std::to_string(kMaxTrendDays) + ")");
    }
    inv.trend.set_days(days);
    inv.command = Command::kTrend;
    return inv;
  }
  if (command == "scan") {
    po::options_description d("scan options", kLineLength);
    d.add_options()("host", po::value<std::string>(), "hostname or host id");
    AddFilterOptions(d);
    d.add_options()
        ("all", "every host in the fleet (an empty filter, said out loud)")
        ("reason", po::value<std::string>(), "why, shown in the agents' logs (default: requested with ksweep scan)");
    if (help) {
      inv.help = Help("ksweep scan HOST | ksweep scan [filters] | ksweep scan --all", d);
      return inv;
    }
    auto p = ParseCommandOptions(rest, d, one_host);
    if (!p.ok()) return Status::InvalidArgument("scan: " + p.status().message());
    auto& r = inv.scan;
    auto any_filter = BuildFilter(p->vm, now, r.mutable_filter());
    if (!any_filter.ok()) return any_filter.status();
    const bool has_host = p->vm.count("host") > 0;
    const bool all = p->vm.count("all") > 0;
    if (static_cast<int>(has_host) + static_cast<int>(*any_filter) + static_cast<int>(all) != 1) {
      return Status::InvalidArgument("scan: give exactly one of a HOST, filter options, or --all");
    }
    if (has_host) {
      r.set_host(Get(p->vm, "host"));
      if (r.host().empty()) return Status::InvalidArgument("scan: empty host name");
      r.clear_filter();
    }
    r.set_reason(p->vm.count("reason") ? Get(p->vm, "reason") : "requested with ksweep scan");
    inv.command = Command::kScan;
    return inv;
  }
  return Status::InvalidArgument("unknown command '" + command + "'");
}

}  // namespace ksweep::cli
