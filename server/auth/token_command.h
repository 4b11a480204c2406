// `ksweep-collector token create|list|revoke --data DIR ...`: tokens made and managed on the collector's host,
// without the API (the first admin token, recovery when every admin token is lost). Works beside a running
// collector: the token store is SQLite, and the collector reads it on every call.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace ksweep::server::auth {

// `args` excludes "ksweep-collector token". Returns the exit code: 0 ok, 1 failure, 2 bad usage, 3 no such token.
int RunTokenCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// "30d", "12h", "90m", "3600s", "3600" -> seconds (> 0). -1 when it does not parse.
int64_t ParseTokenLifetime(const std::string& text);

}  // namespace ksweep::server::auth
