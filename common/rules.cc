#include "common/rules.h"

#include <google/protobuf/util/json_util.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <regex>
#include <set>

#include "common/glob.h"
#include "common/platform.h"

namespace ksweep {
namespace {

constexpr size_t kMaxRulesBytes = 16 * 1024 * 1024;

bool IsSlug(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return id.front() != '-' && id.front() != '.';
}

std::string Where(std::string_view origin, const std::string& field) {
  return std::string(origin) + ": " + field + ": ";
}

Status CheckAbsolutePathPattern(const std::string& pattern) {
  if (pattern.empty() || pattern.front() != '/') return Status::InvalidArgument("must be an absolute path");
  const auto last_slash = pattern.rfind('/');
  if (HasGlobMeta(std::string_view(pattern).substr(0, last_slash))) {
    return Status::InvalidArgument("wildcards are allowed in the last path component only");
  }
  if (pattern.find("/../") != std::string::npos || pattern.ends_with("/..")) {
    return Status::InvalidArgument("must not contain '..'");
  }
  return Status::Ok();
}

Status ValidateSignal(const v1::Signal& s, v1::Platform platform) {
  const Backslash backslash = PatternBackslash(platform);
  using v1::SignalKind;
  if (s.kind() == v1::SIGNAL_KIND_UNSPECIFIED) return Status::InvalidArgument("kind: missing");
  if (s.strength() == v1::STRENGTH_UNSPECIFIED) return Status::InvalidArgument("strength: missing (STRONG or WEAK)");
  if (s.confidence() == v1::CONFIDENCE_UNSPECIFIED) {
    return Status::InvalidArgument("confidence: missing (OFFICIAL, CODE, MULTI or INFERRED)");
  }
  if (Status st = ValidateGlob(s.pattern(), backslash); !st.ok()) {
    return Status::InvalidArgument("pattern: " + st.message());
  }
  switch (s.kind()) {
    case v1::SIGNAL_KIND_PATH:
    case v1::SIGNAL_KIND_BINARY:
      if (Status st = CheckAbsolutePathPattern(s.pattern()); !st.ok()) {
        return Status::InvalidArgument("pattern: " + st.message());
      }
      break;
    case v1::SIGNAL_KIND_PROCESS:
      if (s.pattern().front() == '/') {
        if (Status st = CheckAbsolutePathPattern(s.pattern()); !st.ok()) {
          return Status::InvalidArgument("pattern: " + st.message());
        }
      }
      [[fallthrough]];
    case v1::SIGNAL_KIND_KERNEL_MODULE:
      if (s.implies() != v1::IMPLIES_UNSPECIFIED) {
        return Status::InvalidArgument("implies: not allowed for processes and kernel modules (they mean RUNNING)");
      }
      break;
    case v1::SIGNAL_KIND_PACKAGE:
    case v1::SIGNAL_KIND_PACKAGE_VENDOR:
      if (s.implies() != v1::IMPLIES_UNSPECIFIED) {
        return Status::InvalidArgument("implies: not allowed for packages (the package status decides)");
      }
      break;
    case v1::SIGNAL_KIND_SERVICE:
      if (s.pattern().find('/') != std::string::npos) {
        return Status::InvalidArgument("pattern: a service is a unit or script name, not a path");
      }
      break;
    case v1::SIGNAL_KIND_REGISTRY_KEY: {
      const std::string& p = s.pattern();
      if (!(p.starts_with("HKLM\\SOFTWARE\\") || p.starts_with("HKLM\\SYSTEM\\"))) {
        return Status::InvalidArgument("pattern: a registry key under HKLM\\SOFTWARE\\ or HKLM\\SYSTEM\\, e.g. "
                                       "HKLM\\SOFTWARE\\KasperskyLab");
      }
      if (HasGlobMeta(std::string_view(p).substr(0, p.rfind('\\')))) {
        return Status::InvalidArgument("pattern: wildcards are allowed in the last key name only");
      }
      break;
    }
    case v1::SIGNAL_KIND_INSTALLED_PROGRAM:
    case v1::SIGNAL_KIND_WINDOWS_SERVICE:
    case v1::SIGNAL_KIND_WINDOWS_DRIVER:
    case v1::SIGNAL_KIND_APP_BUNDLE:
    case v1::SIGNAL_KIND_PACKAGE_RECEIPT:
    case v1::SIGNAL_KIND_LAUNCHD_JOB:
    case v1::SIGNAL_KIND_KERNEL_EXTENSION:
      break;
    default:
      return Status::InvalidArgument("kind: unknown value " + std::to_string(s.kind()));
  }
  if (!s.vendor().empty()) {
    if (Status st = ValidateGlob(s.vendor(), backslash); !st.ok()) {
      return Status::InvalidArgument("vendor: " + st.message());
    }
  }
  if (!s.image().empty()) {
    if (Status st = ValidateGlob(s.image(), backslash); !st.ok()) {
      return Status::InvalidArgument("image: " + st.message());
    }
  }
  return Status::Ok();
}

// The platform whose probes produce what a signal kind matches; UNSPECIFIED for kinds every platform has.
v1::Platform PlatformOfKind(v1::SignalKind kind) {
  switch (kind) {
    case v1::SIGNAL_KIND_PACKAGE:
    case v1::SIGNAL_KIND_PACKAGE_VENDOR:
    case v1::SIGNAL_KIND_SERVICE:
    case v1::SIGNAL_KIND_KERNEL_MODULE: return v1::PLATFORM_LINUX;
    case v1::SIGNAL_KIND_INSTALLED_PROGRAM:
    case v1::SIGNAL_KIND_REGISTRY_KEY:
    case v1::SIGNAL_KIND_WINDOWS_SERVICE:
    case v1::SIGNAL_KIND_WINDOWS_DRIVER: return v1::PLATFORM_WINDOWS;
    case v1::SIGNAL_KIND_APP_BUNDLE:
    case v1::SIGNAL_KIND_PACKAGE_RECEIPT:
    case v1::SIGNAL_KIND_LAUNCHD_JOB:
    case v1::SIGNAL_KIND_KERNEL_EXTENSION: return v1::PLATFORM_MACOS;
    default: return v1::PLATFORM_UNSPECIFIED;
  }
}

Status ValidateVersionSource(const v1::VersionSource& v) {
  if (Status st = CheckAbsolutePathPattern(v.file()); !st.ok()) return Status::InvalidArgument("file: " + st.message());
  if (HasGlobMeta(v.file())) return Status::InvalidArgument("file: must be a plain path, not a pattern");
  if (v.regex().empty()) return Status::InvalidArgument("regex: missing");
  try {
    std::regex re(v.regex(), std::regex::ECMAScript);
    if (re.mark_count() < 1) return Status::InvalidArgument("regex: needs a capture group for the version");
  } catch (const std::regex_error& e) {
    return Status::InvalidArgument(std::string("regex: does not compile: ") + e.what());
  }
  return Status::Ok();
}

}  // namespace

Status ValidateRules(const v1::RuleSet& rules, std::string_view origin) {
  if (rules.products().empty()) return Status::InvalidArgument(std::string(origin) + ": products: no products");
  // One product may be on several platforms under one id (klnagent on Linux, Windows and macOS), so fleet queries
  // by product span platforms; within a platform an id is unique.
  std::set<std::pair<std::string, int>> ids;
  for (int i = 0; i < rules.products_size(); ++i) {
    const v1::Product& p = rules.products(i);
    std::string field = "products[" + std::to_string(i) + "]";
    if (p.id().empty()) return Status::InvalidArgument(Where(origin, field + ".id") + "missing");
    if (!IsSlug(p.id())) {
      return Status::InvalidArgument(Where(origin, field + ".id") + "'" + p.id() +
                                     "' is not a slug (lowercase letters, digits, '-', '_', '.'; at most 64)");
    }
    if (!ids.insert({p.id(), p.platform()}).second) {
      return Status::InvalidArgument(Where(origin, field + ".id") + "duplicate id '" + p.id() + "' on " +
                                     v1::Platform_Name(p.platform()));
    }
    field += " (" + p.id() + ")";
    if (p.name().empty()) return Status::InvalidArgument(Where(origin, field + ".name") + "missing");
    if (p.platform() == v1::PLATFORM_UNSPECIFIED) {
      return Status::InvalidArgument(Where(origin, field + ".platform") + "missing");
    }
    if (p.signals().empty()) return Status::InvalidArgument(Where(origin, field + ".signals") + "no signals");
    bool has_strong = false;
    for (int j = 0; j < p.signals_size(); ++j) {
      const v1::Signal& s = p.signals(j);
      Status st = ValidateSignal(s, p.platform());
      const v1::Platform kind_platform = PlatformOfKind(s.kind());
      if (st.ok() && kind_platform != v1::PLATFORM_UNSPECIFIED && kind_platform != p.platform()) {
        st = Status::InvalidArgument("kind: " + v1::SignalKind_Name(s.kind()) + " is not seen on " +
                                     v1::Platform_Name(p.platform()) + " (it is a " +
                                     v1::Platform_Name(kind_platform) + " record)");
      }
      if (!st.ok()) {
        return Status::InvalidArgument(std::string(origin) + ": " + field + ".signals[" + std::to_string(j) + "]." +
                                       st.message());
      }
      has_strong = has_strong || s.strength() == v1::STRENGTH_STRONG;
    }
    if (!has_strong) {
      return Status::InvalidArgument(Where(origin, field + ".signals") +
                                     "no STRONG signal: weak signals only corroborate, so this product could never "
                                     "be found");
    }
    for (int j = 0; j < p.successor_of_size(); ++j) {
      const v1::Successor& succ = p.successor_of(j);
      const std::string where = field + ".successor_of[" + std::to_string(j) + "]";
      if (succ.product_ids().empty()) return Status::InvalidArgument(Where(origin, where + ".product_ids") + "empty");
      if (succ.label().empty()) return Status::InvalidArgument(Where(origin, where + ".label") + "missing");
      for (const auto& id : succ.product_ids()) {
        if (Status st = ValidateGlob(id); !st.ok()) {
          return Status::InvalidArgument(Where(origin, where + ".product_ids") + st.message());
        }
      }
    }
    for (int j = 0; j < p.version_sources_size(); ++j) {
      if (Status st = ValidateVersionSource(p.version_sources(j)); !st.ok()) {
        return Status::InvalidArgument(std::string(origin) + ": " + field + ".version_sources[" +
                                       std::to_string(j) + "]." + st.message());
      }
    }
  }
  return Status::Ok();
}

Result<v1::RuleSet> ParseRules(std::string_view json, std::string_view origin) {
  v1::RuleSet rules;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &rules, options);
  if (!status.ok()) {
    return Status::InvalidArgument(std::string(origin) + ": " + std::string(status.message()));
  }
  if (Status st = ValidateRules(rules, origin); !st.ok()) return st;
  return rules;
}

Status RequireVersion(const v1::RuleSet& rules, std::string_view origin) {
  if (!rules.version().empty()) return Status::Ok();
  return Status::InvalidArgument(std::string(origin) +
                                 ": version: missing (the collector and its agents compare rule sets by it alone)");
}

Result<v1::RuleSet> LoadRulesFile(const std::string& path) {
  // Non-blocking open and a type check first: a FIFO or a folder given as --rules must be an error, not a hang.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return Status::InvalidArgument(path + ": cannot open rules file: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument(path + ": not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxRulesBytes) {
    ::close(fd);
    return Status::InvalidArgument(path + ": rules file larger than " + std::to_string(kMaxRulesBytes) + " bytes");
  }
  std::string text;
  char buf[65536];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Status::IoError(path + ": read failed: " + std::strerror(err));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxRulesBytes) {
      ::close(fd);
      return Status::InvalidArgument(path + ": rules file larger than " + std::to_string(kMaxRulesBytes) + " bytes");
    }
  }
  ::close(fd);
  return ParseRules(text, path);
}

Result<v1::RuleSet> BuiltinRules() { return ParseRules(BuiltinRulesJson(), "built-in rules"); }

}  // namespace ksweep
