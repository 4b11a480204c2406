#include "server/store/page_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>

namespace ksweep::server {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr size_t kMacBytes = 16;
constexpr unsigned char kVersion = 1;

std::string Base64Url(std::string_view in) {
  std::string out;
  size_t i = 0;
  while (i + 2 < in.size()) {
    const uint32_t n = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8) |
                       static_cast<uint8_t>(in[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
    i += 3;
  }
  if (i + 1 == in.size()) {
    const uint32_t n = static_cast<uint8_t>(in[i]) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
  } else if (i + 2 == in.size()) {
    const uint32_t n = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
  }
  return out;
}

bool FromBase64Url(std::string_view in, std::string* out) {
  std::array<int, 256> value{};
  value.fill(-1);
  for (int i = 0; i < 64; ++i) value[static_cast<unsigned char>(kAlphabet[i])] = i;
  if (in.size() % 4 == 1) return false;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = value[static_cast<unsigned char>(c)];
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint(std::string_view* in, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64 && !in->empty(); shift += 7) {
    const auto b = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    *v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

Status BadToken() {
  return Status::InvalidArgument(
      "page_token: not a token this collector issued for this query (forged, damaged, or from another query)");
}

}  // namespace

std::string PageTokenSealer::Mac(std::string_view canonical_query, std::string_view body) const {
  std::string msg;
  PutVarint(&msg, canonical_query.size());
  msg.append(canonical_query);
  msg.append(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), reinterpret_cast<const unsigned char*>(msg.data()),
       msg.size(), mac, &mac_len);
  return std::string(reinterpret_cast<const char*>(mac), kMacBytes);
}

std::string PageTokenSealer::Seal(std::string_view canonical_query, const std::vector<std::string>& cursor) const {
  std::string body(1, static_cast<char>(kVersion));
  PutVarint(&body, cursor.size());
  for (const auto& field : cursor) {
    PutVarint(&body, field.size());
    body.append(field);
  }
  return Base64Url(body + Mac(canonical_query, body));
}

Result<std::vector<std::string>> PageTokenSealer::Open(std::string_view canonical_query, std::string_view token,
                                                       size_t expected_fields) const {
  if (token.size() > 4096) return BadToken();
  std::string raw;
  if (!FromBase64Url(token, &raw) || raw.size() < kMacBytes + 2) return BadToken();
  const std::string_view body(raw.data(), raw.size() - kMacBytes);
  const std::string mac = Mac(canonical_query, body);
  if (CRYPTO_memcmp(mac.data(), raw.data() + body.size(), kMacBytes) != 0) return BadToken();
  std::string_view in = body;
  if (static_cast<unsigned char>(in.front()) != kVersion) return BadToken();
  in.remove_prefix(1);
  uint64_t n = 0;
  if (!GetVarint(&in, &n) || n != expected_fields) return BadToken();
  std::vector<std::string> cursor;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t len = 0;
    if (!GetVarint(&in, &len) || len > in.size()) return BadToken();
    cursor.emplace_back(in.substr(0, len));
    in.remove_prefix(len);
  }
  if (!in.empty()) return BadToken();
  return cursor;
}

Result<std::string> NewTokenKey() {
  std::string key(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1) {
    return Status::Internal("page token key: RAND_bytes failed");
  }
  return key;
}

}  // namespace ksweep::server
