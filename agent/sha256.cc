#include "agent/sha256.h"

#include <openssl/evp.h>

#include <memory>

namespace ksweep::agent {

Result<std::string> Sha256File(const Root& root, std::string_view inside, size_t max_bytes) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return Status::Internal("OpenSSL SHA-256 init failed");
  }
  bool update_failed = false;
  Status st = root.ReadChunks(inside, max_bytes, [&](std::string_view chunk) {
    if (EVP_DigestUpdate(ctx.get(), chunk.data(), chunk.size()) != 1) update_failed = true;
  });
  if (!st.ok()) return st;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (update_failed || EVP_DigestFinal_ex(ctx.get(), digest, &len) != 1) {
    return Status::Internal("OpenSSL SHA-256 failed for " + std::string(inside));
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xf]);
  }
  return hex;
}

}  // namespace ksweep::agent
