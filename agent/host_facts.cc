#include "agent/host_facts.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cctype>

#include "agent/platform.h"

namespace ksweep::agent {
namespace {

// ksweep's application id: a fixed random 128-bit value, so our host id cannot be correlated with other tools'.
constexpr std::string_view kAppId = "9f1c3a5e7b2d4c68a0e4f6b8d2c1e3a7";

std::string Trimmed(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

std::string Unquote(std::string v) {
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
    v = v.substr(1, v.size() - 2);
  }
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\\' && i + 1 < v.size()) ++i;
    out.push_back(v[i]);
  }
  return out;
}

bool ValidMachineId(const std::string& id) {
  if (id.size() != 32) return false;
  for (char c : id) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return id != std::string(32, '0');
}

void ReadOsRelease(const Root& root, v1::OsInfo* os) {
  // os-release(5): /etc/os-release, falling back to /usr/lib/os-release.
  auto text = root.ReadFile("/etc/os-release", 64 * 1024);
  if (!text.ok()) text = root.ReadFile("/usr/lib/os-release", 64 * 1024);
  if (!text.ok()) return;
  std::string_view rest = *text;
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    std::string line(rest.substr(0, nl));
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    const size_t eq = line.find('=');
    if (eq == std::string::npos || line.front() == '#') continue;
    const std::string key = line.substr(0, eq);
    const std::string value = Unquote(Trimmed(line.substr(eq + 1)));
    if (key == "ID") os->set_id(value);
    if (key == "NAME") os->set_name(value);
    if (key == "VERSION_ID") os->set_version_id(value);
    if (key == "PRETTY_NAME") os->set_pretty_name(value);
  }
}

}  // namespace

std::string HostIdFromMachineId(const std::string& machine_id) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), machine_id.data(), static_cast<int>(machine_id.size()),
       reinterpret_cast<const unsigned char*>(kAppId.data()), kAppId.size(), mac, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  // 128 bits, as a machine id: enough to be unique in any fleet, short enough to read.
  for (unsigned int i = 0; i < 16 && i < len; ++i) {
    hex.push_back(kHex[mac[i] >> 4]);
    hex.push_back(kHex[mac[i] & 0xf]);
  }
  return hex;
}

std::string NormalizedGuid(std::string_view guid) {
  std::string hex;
  for (char c : guid) {
    if (c == '{' || c == '}' || c == '-') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) return {};
    hex.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return ValidMachineId(hex) ? hex : std::string();
}

v1::HostFacts ReadHostFacts(const Root& root, std::vector<std::string>* warnings) {
  v1::HostFacts facts;
  facts.set_root(root.path());
  facts.set_platform(root.platform());
  PlatformSpecOf(root.platform()).read_facts(root, &facts, warnings);
  return facts;
}

void ReadLinuxFacts(const Root& root, v1::HostFacts* out, std::vector<std::string>* warnings) {
  v1::HostFacts& facts = *out;

  std::string hostname;
  if (root.live()) {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) == 0) hostname = buf;
  }
  if (hostname.empty()) {
    if (auto h = root.ReadFile("/etc/hostname", 4096); h.ok()) hostname = Trimmed(*h);
  }
  facts.set_hostname(hostname);

  auto mid = root.ReadFile("/etc/machine-id", 4096);
  std::string machine_id = mid.ok() ? Trimmed(*mid) : "";
  if (ValidMachineId(machine_id)) {
    facts.set_host_id(HostIdFromMachineId(machine_id));
  } else {
    // Without a machine id (some images and containers) fall back to the hostname: stable, but not unique across
    // clones. Said out loud so nobody trusts it blindly.
    warnings->push_back("no valid /etc/machine-id under " + root.path() + ": host id derived from the hostname");
    facts.set_host_id(HostIdFromMachineId("hostname:" + hostname));
  }

  ReadOsRelease(root, facts.mutable_os());
  if (root.live()) {
    struct utsname u {};
    if (::uname(&u) == 0) {
      facts.set_kernel(u.release);
      facts.set_arch(u.machine);
    }
  } else if (auto arch = root.ReadFile("/var/lib/dpkg/arch", 4096); arch.ok()) {
    // dpkg's native architecture comes first.
    const std::string a = Trimmed(*arch);
    facts.set_arch(a.substr(0, a.find('\n')));
  }
}

}  // namespace ksweep::agent
