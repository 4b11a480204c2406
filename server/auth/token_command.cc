#include "server/auth/token_command.h"

#include <google/protobuf/util/time_util.h>

#include <chrono>
#include <filesystem>
#include <map>

#include "common/tls/files.h"
#include "server/auth/token_store.h"

namespace ksweep::server::auth {
namespace {

constexpr char kUsage[] =
    "usage: ksweep-collector token create --data DIR --name NAME --role viewer|admin [--expires 30d] [--out FILE]\n"
    "       ksweep-collector token list --data DIR\n"
    "       ksweep-collector token revoke --data DIR NAME|ID\n"
    "create prints the token once on stdout (or writes it to FILE, mode 0600, with --out); only its hash is kept.\n";

std::string Time(Micros t) {
  if (t == 0) return "-";
  return google::protobuf::util::TimeUtil::ToString(google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
      t - t % kMicrosPerSecond));
}

Micros NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int64_t ParseTokenLifetime(const std::string& text) {
  size_t used = 0;
  long long n = 0;
  try {
    n = std::stoll(text, &used);
  } catch (const std::exception&) {
    return -1;
  }
  static const std::map<std::string, int64_t> kUnits{{"", 1}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}};
  auto unit = kUnits.find(text.substr(used));
  if (n <= 0 || unit == kUnits.end() || n > 100LL * 365 * 86400 / unit->second) return -1;
  return n * unit->second;
}

int RunTokenCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    (args.empty() ? err : out) << kUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string verb = args[0];
  std::map<std::string, std::string> flags;
  std::vector<std::string> positional;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--data" || a == "--name" || a == "--role" || a == "--expires" || a == "--out") {
      if (i + 1 >= args.size()) {
        err << "ksweep-collector token: " << a << " needs a value\n" << kUsage;
        return 2;
      }
      flags[a] = args[++i];
    } else if (a.starts_with("--")) {
      err << "ksweep-collector token: unknown option '" << a << "'\n" << kUsage;
      return 2;
    } else {
      positional.push_back(a);
    }
  }
  if (flags["--data"].empty()) {
    err << "ksweep-collector token " << verb << ": --data DIR is required\n" << kUsage;
    return 2;
  }
  const std::string data = flags["--data"];
  std::error_code ec;
  if (!std::filesystem::is_directory(data, ec)) {
    err << "ksweep-collector token: data dir '" << data << "': not a directory\n";
    return 2;
  }
  const Micros now = NowMicros();

  if (verb == "create") {
    if (!positional.empty()) {
      err << "ksweep-collector token create: unexpected argument '" << positional[0] << "'\n" << kUsage;
      return 2;
    }
    auto role = ParseRole(flags["--role"]);
    if (!role.ok()) {
      err << "ksweep-collector token create: --role: " << role.status().message() << "\n";
      return 2;
    }
    Micros expires = 0;
    if (flags.count("--expires") != 0) {
      const int64_t s = ParseTokenLifetime(flags["--expires"]);
      if (s < 0) {
        err << "ksweep-collector token create: --expires '" << flags["--expires"]
            << "': expected a lifetime like 30d, 12h, 90m\n";
        return 2;
      }
      expires = now + s * kMicrosPerSecond;
    }
    if (Status s = CheckTokenName(flags["--name"]); !s.ok()) {
      err << "ksweep-collector token create: --name: " << s.message() << "\n";
      return 2;
    }
    auto token = CreateTokenInDataDir(data, flags["--name"], *role, now, expires);
    if (!token.ok()) {
      err << "ksweep-collector token create: " << token.status().message() << "\n";
      return token.status().code() == Status::Code::kInvalidArgument ? 2 : 1;
    }
    if (flags.count("--out") != 0) {
      if (Status s = tls::WriteFileAtomic(flags["--out"], token->text + "\n", tls::kPrivateMode); !s.ok()) {
        // The token exists but nobody has it: revoke it rather than leave it live and unknown.
        if (auto store = OpenSqliteTokenStore(TokenStorePath(data)); store.ok()) {
          (void)(*store)->Revoke(token->record.id, now);
        }
        err << "ksweep-collector token create: " << s.message() << " (the token was revoked)\n";
        return 1;
      }
      out << "token " << token->record.name << " (id " << token->record.id << ", " << RoleName(*role)
          << ") written to " << flags["--out"] << " (mode 0600)\n";
    } else {
      out << token->text << "\n";
      err << "token " << token->record.name << " (id " << token->record.id << ", " << RoleName(*role)
          << "): shown once, store it now (KSWEEP_TOKEN or a 0600 file for --token-file)\n";
    }
    return 0;
  }

  auto store = OpenSqliteTokenStore(TokenStorePath(data));
  if (!store.ok()) {
    err << "ksweep-collector token: " << store.status().message() << "\n";
    return 1;
  }
  if (verb == "list") {
    auto list = (*store)->List();
    if (!list.ok()) {
      err << "ksweep-collector token list: " << list.status().message() << "\n";
      return 1;
    }
    out << "ID\tNAME\tROLE\tCREATED\tEXPIRES\tLAST USED\tSTATE\n";
    for (const auto& r : *list) {
      out << r.id << "\t" << r.name << "\t" << RoleName(r.role) << "\t" << Time(r.created) << "\t" << Time(r.expires)
          << "\t" << Time(r.last_used) << "\t" << (r.revoked ? "revoked" : r.Expired(now) ? "expired" : "live") << "\n";
    }
    return 0;
  }
  if (verb == "revoke") {
    if (positional.size() != 1) {
      err << "ksweep-collector token revoke: give one token NAME or ID\n" << kUsage;
      return 2;
    }
    auto r = (*store)->Revoke(positional[0], now);
    if (!r.ok()) {
      err << "ksweep-collector token revoke: " << r.status().message() << "\n";
      return r.status().code() == Status::Code::kNotFound ? 3 : 1;
    }
    out << "token " << r->name << " (id " << r->id << ") revoked\n";
    return 0;
  }
  err << "ksweep-collector token: unknown command '" << verb << "'\n" << kUsage;
  return 2;
}

}  // namespace ksweep::server::auth
