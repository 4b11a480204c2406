// Where tokens are kept: the seam between the auth code and a backend (SQLite today; PostgreSQL may follow).
// Security state lives apart from fleet data: its own file, its own permissions, its own backups policy.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "server/auth/token.h"

namespace ksweep::server::auth {

class TokenStore {
 public:
  virtual ~TokenStore() = default;

  // kInvalidArgument if a live token already has this name.
  virtual Status Insert(const TokenRecord& record) = 0;
  // kNotFound when no token has this hash (revoked and expired ones are returned: the caller decides).
  virtual Result<TokenRecord> FindByHash(const std::string& hash) = 0;
  // Every token, newest first, hashes left empty.
  virtual Result<std::vector<TokenRecord>> List() = 0;
  // Revokes the live token named `name_or_id`, else the token with that id. kNotFound if neither; a token already
  // revoked is returned as it is (revoking twice changes nothing).
  virtual Result<TokenRecord> Revoke(const std::string& name_or_id, Micros now) = 0;
  virtual Status SetLastUsed(const std::string& id, Micros when) = 0;
};

using TokenStorePtr = std::unique_ptr<TokenStore>;

// The SQLite token store at `path` (created 0600 if missing; an existing file is set back to 0600).
Result<TokenStorePtr> OpenSqliteTokenStore(const std::string& path);

// The file name of the token store inside a collector data dir.
inline constexpr char kTokenStoreFile[] = "tokens.db";
std::string TokenStorePath(const std::string& data_dir);

// Makes a token and stores it: for `ksweep-collector init`, `ksweep-collector token create` and CreateToken.
// The returned text is the only copy of the token; show it once.
Result<NewToken> CreateToken(TokenStore* store, const std::string& name, Role role, Micros now, Micros expires);

// Opens DATA_DIR's token store and creates a token in it (the offline path: no collector needed).
Result<NewToken> CreateTokenInDataDir(const std::string& data_dir, const std::string& name, Role role, Micros now,
                                      Micros expires);

}  // namespace ksweep::server::auth
