// Versioned schema of the SQLite store: PRAGMA user_version is the number of migrations applied.
#pragma once

#include "common/status.h"
#include "server/store/sqlite_util.h"

namespace ksweep::server::sqlite {

inline constexpr int kSchemaVersion = 2;

// Applies the missing migrations, each in its own transaction. Refuses a database newer than this collector.
Status Migrate(Db& db);

// Applies the migrations up to `version` only: a database as an older collector made it (tests of the upgrade).
Status MigrateTo(Db& db, int version);

}  // namespace ksweep::server::sqlite
