#include "server/auth/token.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cctype>

namespace ksweep::server::auth {
namespace {

constexpr char kBase64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string Base64UrlNoPad(const unsigned char* data, size_t n) {
  std::string out;
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    for (int s = 18; s >= 0; s -= 6) out.push_back(kBase64Url[(v >> s) & 63]);
  }
  if (n - i == 1) {
    const uint32_t v = uint32_t{data[i]} << 16;
    out.push_back(kBase64Url[(v >> 18) & 63]);
    out.push_back(kBase64Url[(v >> 12) & 63]);
  } else if (n - i == 2) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
    out.push_back(kBase64Url[(v >> 18) & 63]);
    out.push_back(kBase64Url[(v >> 12) & 63]);
    out.push_back(kBase64Url[(v >> 6) & 63]);
  }
  return out;
}

std::string Hex(const unsigned char* data, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kHex[data[i] >> 4]);
    out.push_back(kHex[data[i] & 15]);
  }
  return out;
}

bool IsBase64UrlChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
}

}  // namespace

const char* RoleName(Role role) { return role == Role::kAdmin ? "admin" : "viewer"; }

Result<Role> ParseRole(std::string_view text) {
  if (text == "viewer") return Role::kViewer;
  if (text == "admin") return Role::kAdmin;
  return Status::InvalidArgument("role '" + std::string(text.substr(0, 32)) + "': expected viewer or admin");
}

Status CheckTokenName(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return Status::InvalidArgument("token name: 1 to 64 characters (got " + std::to_string(name.size()) + ")");
  }
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '.' && c != '_' && c != '@' && c != '-') {
      return Status::InvalidArgument("token name '" + std::string(name) +
                                     "': only letters, digits and . _ @ - are allowed");
    }
  }
  return Status::Ok();
}

Result<NewToken> MakeToken(std::string name, Role role, Micros now, Micros expires) {
  if (Status s = CheckTokenName(name); !s.ok()) return s;
  if (expires != 0 && expires <= now) return Status::InvalidArgument("token expiry: must be in the future");
  unsigned char secret[kTokenSecretBytes];
  unsigned char id[8];
  if (RAND_bytes(secret, sizeof secret) != 1 || RAND_bytes(id, sizeof id) != 1) {
    return Status::Internal("token: RAND_bytes failed (no entropy source?)");
  }
  NewToken t;
  t.text = std::string(kTokenPrefix) + Base64UrlNoPad(secret, sizeof secret);
  OPENSSL_cleanse(secret, sizeof secret);
  t.record.id = Hex(id, sizeof id);
  t.record.name = std::move(name);
  t.record.role = role;
  t.record.created = now;
  t.record.expires = expires;
  t.record.hash = HashToken(t.text);
  return t;
}

std::string HashToken(std::string_view token_text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token_text.data()), token_text.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof digest);
}

bool WellFormedToken(std::string_view text) {
  if (text.size() != kTokenTextLength || !text.starts_with(kTokenPrefix)) return false;
  for (char c : text.substr(4)) {
    if (!IsBase64UrlChar(c)) return false;
  }
  return true;
}

Result<std::string> ParseBearer(std::string_view header) {
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() < kScheme.size()) {
    return Status::InvalidArgument("authorization: expected 'Bearer <token>'");
  }
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) {
      return Status::InvalidArgument("authorization: expected the Bearer scheme ('Bearer <token>')");
    }
  }
  const std::string_view token = header.substr(kScheme.size());
  if (!WellFormedToken(token)) {
    return Status::InvalidArgument("authorization: the bearer token is malformed (expected ksw_ and 43 "
                                   "base64url characters)");
  }
  return std::string(token);
}

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace ksweep::server::auth
