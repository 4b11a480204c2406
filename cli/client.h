// The FleetService seen from the CLI: one channel, a deadline on every unary call, gRPC failures turned into a
// Status whose message says what to do, and the exit code that goes with it.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/logging.h"
#include "common/status.h"
#include "ksweep/v1/admin.grpc.pb.h"
#include "ksweep/v1/fleet.grpc.pb.h"

namespace ksweep::cli {

// Exit codes: a contract, documented in docs/USAGE.md and cli/README.md.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;        // bad flags, or a filter the collector rejects (INVALID_ARGUMENT)
inline constexpr int kExitNotFound = 3;     // `host`, `scan HOST`, `events --host`, `tokens revoke`: no such thing
inline constexpr int kExitUnreachable = 4;  // UNAVAILABLE or DEADLINE_EXCEEDED: collector down, wrong address, slow
inline constexpr int kExitRefused = 5;      // UNAUTHENTICATED or PERMISSION_DENIED: no/invalid token, role too low

int ExitCodeFor(const Status& status);

// Largest response the CLI accepts: a host with many findings stays far below it; a bigger answer is refused with
// RESOURCE_EXHAUSTED rather than buffered without bound.
inline constexpr int kMaxResponseBytes = 64 << 20;

// grpc::Status -> Status, with a message naming the collector and the next step.
Status FromGrpc(const grpc::Status& status, const std::string& server, const std::string& rpc,
                std::chrono::milliseconds timeout);

// How to reach the collector. TLS unless `insecure`: the server certificate must chain to `ca_pem`, and `token`
// (when set) goes in `authorization: Bearer` metadata, which gRPC sends over TLS only.
struct ClientOptions {
  std::string server;
  std::chrono::milliseconds timeout{10000};
  bool insecure = false;
  std::string ca_pem;
  std::string token;
};

// The FleetService and the AdminService over one channel.
class FleetClient {
 public:
  // kInvalidArgument when the TLS settings cannot make credentials (e.g. a CA file that is not PEM).
  static Result<std::unique_ptr<FleetClient>> Make(const ClientOptions& options, LoggerPtr log);

  Result<v1::Summary> GetSummary();
  Result<v1::ListHostsResponse> ListHosts(const v1::ListHostsRequest& request);
  Result<v1::Host> GetHost(const v1::GetHostRequest& request);
  Result<v1::ListEventsResponse> ListEvents(const v1::ListEventsRequest& request);
  Result<v1::Trend> GetTrend(const v1::GetTrendRequest& request);
  Result<v1::RequestScanResponse> RequestScan(const v1::RequestScanRequest& request);
  Result<v1::CreateTokenResponse> CreateToken(const v1::CreateTokenRequest& request);
  Result<v1::ListTokensResponse> ListTokens();
  Result<v1::ApiToken> RevokeToken(const v1::RevokeTokenRequest& request);
  Result<v1::RevokeHostResponse> RevokeHost(const v1::RevokeHostRequest& request);

  // Streams events with no deadline until the server ends the stream, `on_event` returns false (then OK), or
  // `context` is cancelled from another thread (e.g. on SIGINT: then CANCELLED, as an Internal status, which the
  // caller that cancelled knows to ignore). A stream the server ends, even cleanly, is Unavailable: a follower
  // resumes it. When the collector cut the stream off because this client fell too far behind (RESOURCE_EXHAUSTED
  // with the `ksweep-resume-after-id` trailer), `*lag_resume_after_id` is the id it says to resume after; else -1.
  // A RESOURCE_EXHAUSTED without that trailer (the per-token rate limit) is not resumable at once.
  Status WatchEvents(const v1::WatchEventsRequest& request, grpc::ClientContext* context,
                     const std::function<bool(const v1::Event&)>& on_event, int64_t* lag_resume_after_id);

  // The channel waits out its own reconnect backoff (growing to 120 s) and fails calls meanwhile: a caller that
  // paces its own retries (a --follow resuming a lost stream) asks for a connection attempt now.
  void RetryConnectionNow();
  // True once the channel is connected, false if it is not within `d`.
  bool WaitForConnection(std::chrono::milliseconds d);

  const std::string& server() const { return server_; }

 private:
  FleetClient(const ClientOptions& options, std::shared_ptr<grpc::ChannelCredentials> creds, LoggerPtr log);

  template <typename Request, typename Response, typename Stub, typename Method>
  Result<Response> Call(const char* rpc, const Request& request, Stub* stub, Method method);

  std::string server_;
  std::chrono::milliseconds timeout_;
  LoggerPtr log_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::FleetService::Stub> stub_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
};

}  // namespace ksweep::cli
