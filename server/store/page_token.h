// Opaque page tokens: a cursor sealed with an HMAC over the query it belongs to, so a forged token, a damaged one or
// one from another query is refused (INVALID_ARGUMENT) instead of silently paging something else.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ksweep::server {

class PageTokenSealer {
 public:
  // `key`: secret bytes, kept by the store so tokens survive a restart.
  explicit PageTokenSealer(std::string key) : key_(std::move(key)) {}

  std::string Seal(std::string_view canonical_query, const std::vector<std::string>& cursor) const;

  // The cursor sealed in `token`, which must have been made for `canonical_query`; `expected_fields` of them.
  Result<std::vector<std::string>> Open(std::string_view canonical_query, std::string_view token,
                                        size_t expected_fields) const;

 private:
  std::string Mac(std::string_view canonical_query, std::string_view body) const;
  const std::string key_;
};

// Random bytes for a new key (OpenSSL RAND_bytes).
Result<std::string> NewTokenKey();

}  // namespace ksweep::server
