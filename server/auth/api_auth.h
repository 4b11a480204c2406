// Authentication and authorization of the fleet API port, inside gRPC's own machinery: an AuthMetadataProcessor set
// on the API server's TLS credentials. It runs before any handler, off the completion queue (IsBlocking), on every
// call: reads `authorization: Bearer <token>`, checks the token (known, not revoked, not expired), the caller's role
// against the method (MethodRole), and the token's request rate. A failed call never reaches a handler:
// UNAUTHENTICATED (no/malformed/unknown/revoked/expired token), PERMISSION_DENIED (role too low),
// RESOURCE_EXHAUSTED (rate). An accepted call carries the token's id, name and role in its AuthContext
// (CallerFromContext), and the authorization header is consumed: handlers never see the token.
#pragma once

#include <grpcpp/security/auth_context.h>
#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/server_context.h>

#include <optional>
#include <string>

#include "common/logging.h"
#include "server/auth/rate_limiter.h"
#include "server/auth/token_store.h"
#include "server/clock.h"

namespace ksweep::server::auth {

struct ApiAuthLimits {
  double requests_per_second = 20;  // per token, sustained
  double request_burst = 100;       // per token, at once
};

// AuthContext property names set on an accepted call.
inline constexpr char kPropertyTokenId[] = "ksweep.token_id";
inline constexpr char kPropertyTokenName[] = "ksweep.token_name";
inline constexpr char kPropertyRole[] = "ksweep.role";

// The role a method needs, by its full path ("/ksweep.v1.FleetService/GetSummary"). Read-only FleetService
// methods, health and reflection: viewer. RequestScan, the AdminService and anything not listed: admin.
Role MethodRole(std::string_view path);

struct Caller {
  std::string token_id;
  std::string token_name;
  Role role = Role::kViewer;
};

// The caller of an accepted call; nullopt on a server without the processor (plain text, --insecure).
std::optional<Caller> CallerFromContext(const grpc::ServerContextBase& ctx);

class ApiAuthProcessor final : public grpc::AuthMetadataProcessor {
 public:
  ApiAuthProcessor(TokenStore* store, const Clock* clock, ApiAuthLimits limits, LoggerPtr logger)
      : store_(store), clock_(clock), limiter_(limits.requests_per_second, limits.request_burst, clock),
        logger_(std::move(logger)) {}

  // True: Process reads SQLite, so gRPC runs it on its own thread pool, not on a completion queue thread.
  bool IsBlocking() const override { return true; }

  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata, OutputMetadata* response_metadata) override;

 private:
  grpc::Status Deny(grpc::StatusCode code, const std::string& method, const std::string& reason,
                    const std::string& client_message);

  TokenStore* const store_;
  const Clock* const clock_;
  RateLimiter limiter_;
  const LoggerPtr logger_;
};

}  // namespace ksweep::server::auth
