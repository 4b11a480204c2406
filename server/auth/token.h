// API tokens: what one is, how it is made, how it is stored (only its hash) and how it is read from a request.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "server/clock.h"

namespace ksweep::server::auth {

// viewer: reads the FleetService. admin: also RequestScan and the AdminService (tokens, revocations).
enum class Role { kViewer, kAdmin };

const char* RoleName(Role role);                     // "viewer", "admin"
Result<Role> ParseRole(std::string_view text);       // the same names; an error names the value

// The printed form: "ksw_" then 43 base64url characters (32 random bytes, 256 bits, no padding).
inline constexpr char kTokenPrefix[] = "ksw_";
inline constexpr size_t kTokenSecretBytes = 32;
inline constexpr size_t kTokenTextLength = 4 + 43;

// What is kept of a token. The secret itself is never stored: `hash` is SHA-256 of the printed token.
struct TokenRecord {
  std::string id;       // 16 hex characters, random; shown in listings and logs in place of the token
  std::string name;     // unique among live (unrevoked) tokens
  Role role = Role::kViewer;
  Micros created = 0;
  Micros expires = 0;   // 0: never
  bool revoked = false;
  Micros revoked_at = 0;
  Micros last_used = 0; // 0: never; updated at most once a minute (see kLastUsedGranularity)
  std::string hash;     // 32 raw bytes

  bool Expired(Micros now) const { return expires != 0 && now >= expires; }
};

// A token just made: the record to store and the text shown once to whoever asked for it.
struct NewToken {
  TokenRecord record;
  std::string text;  // "ksw_..."
};

// A fresh token from RAND_bytes. `name` must be 1-64 characters of [A-Za-z0-9._@-]; `expires` 0 for never.
Result<NewToken> MakeToken(std::string name, Role role, Micros now, Micros expires);

// SHA-256 of the printed token (raw 32 bytes). A fast hash is right here: the token holds 256 random bits, so
// there is nothing to brute-force and no need for a slow password hash (bcrypt/argon2 would only cost CPU on
// every call); a stolen tokens.db still gives no usable token.
std::string HashToken(std::string_view token_text);

// Whether `text` has the form of a token (prefix, length, alphabet). Checked before any lookup.
bool WellFormedToken(std::string_view text);

// The token from an `authorization` metadata value: exactly "Bearer <token>" (scheme case-insensitive, one
// space). kInvalidArgument naming what is wrong, never echoing the value.
Result<std::string> ParseBearer(std::string_view header);

// Names as accepted for tokens (also by the CLI before it asks).
Status CheckTokenName(std::string_view name);

// Constant-time equality of two byte strings of any length (length is not secret).
bool ConstantTimeEqual(std::string_view a, std::string_view b);

}  // namespace ksweep::server::auth
