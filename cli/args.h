// The command line, parsed into requests: `ksweep [global options] COMMAND [options]`. Pure: no I/O, no RPC, so
// every rule here is unit-tested (tests/unit/cli_format_test.cc).
#pragma once

#include <google/protobuf/timestamp.pb.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "cli/views.h"
#include "common/status.h"
#include "ksweep/v1/admin.pb.h"
#include "ksweep/v1/fleet.pb.h"

namespace ksweep::cli {

inline constexpr const char* kDefaultServer = "127.0.0.1:7444";
inline constexpr const char* kServerEnv = "KSWEEP_SERVER";
inline constexpr const char* kCaCertEnv = "KSWEEP_CA_CERT";
inline constexpr const char* kTokenEnv = "KSWEEP_TOKEN";          // the token itself: never a flag (ps shows flags)
inline constexpr const char* kTokenFileEnv = "KSWEEP_TOKEN_FILE";
inline constexpr int64_t kDefaultLimit = 10000;    // rows `hosts` and `events` fetch unless --limit/--all
inline constexpr int32_t kDefaultPageSize = 500;   // rows per RPC while following page tokens
inline constexpr int32_t kMaxPageSize = 1000;      // the FleetService maximum
inline constexpr int32_t kMaxTrendDays = 3660;

enum class Command {
  kHelp, kVersion, kSummary, kHosts, kHost, kEvents, kTrend, kScan,
  kTokensCreate, kTokensList, kTokensRevoke, kHostsRevoke,
};

struct GlobalOptions {
  std::string server = kDefaultServer;   // --server, else $KSWEEP_SERVER, else the default
  std::chrono::milliseconds timeout{10000};  // per RPC; --follow streams have none
  OutputFormat output = OutputFormat::kTable;
  bool verbose = false;
  bool insecure = false;  // plain-text gRPC, no token sent; without it: TLS and a bearer token
  std::string ca_cert;    // --ca-cert FILE (main falls back to $KSWEEP_CA_CERT)
  std::string token_file; // --token-file FILE (main falls back to $KSWEEP_TOKEN, then $KSWEEP_TOKEN_FILE)
};

struct HostsCommand {
  v1::ListHostsRequest request;   // filter, order, page size, first page token
  int64_t limit = kDefaultLimit;  // 0: follow every page
};

struct EventsCommand {
  v1::ListEventsRequest request;
  int64_t limit = kDefaultLimit;  // 0: no limit
  bool follow = false;            // after listing (if --since/--after-id), stream new events until interrupted
  int64_t after_id = 0;           // --after-id: replay stored events newer than this id
  bool list_first = false;        // --since given: list stored events before following
};

struct Invocation {
  Command command = Command::kHelp;
  GlobalOptions global;
  std::string help;  // kHelp: the text to print
  HostsCommand hosts;
  v1::GetHostRequest host;
  EventsCommand events;
  v1::GetTrendRequest trend;
  v1::RequestScanRequest scan;
  v1::CreateTokenRequest token_create;
  v1::RevokeTokenRequest token_revoke;
  v1::RevokeHostRequest host_revoke;
};

// `env_server` is $KSWEEP_SERVER (nullptr when unset); `now` anchors ages like --since 24h.
Result<Invocation> ParseArgs(const std::vector<std::string>& args, const char* env_server,
                             const google::protobuf::Timestamp& now);

std::string Usage();

}  // namespace ksweep::cli
