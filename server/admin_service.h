// AdminService: tokens and host revocation, on the gRPC callback API. Served on the API port behind the
// ApiAuthProcessor, which already refused every caller without an admin token; each handler checks the caller's role
// again from the AuthContext (a server built without the processor answers UNAUTHENTICATED, never serves). Every
// call writes one audit line: who (token id and name, never the token), what, outcome.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>

#include "common/logging.h"
#include "ksweep/v1/admin.grpc.pb.h"
#include "server/auth/token_store.h"
#include "server/clock.h"
#include "server/store/store.h"

namespace ksweep::server {

// Revokes the certificates of `host_id` and drops its live streams (Collector::RevokeHost, server/pki/); returns how
// many certificates were live. `actor` names the admin token for the CA's own audit trail. Empty: RevokeHost
// answers UNIMPLEMENTED.
using RevokeHostFn = std::function<Result<int>(const std::string& host_id, const std::string& actor)>;

struct AdminLimits {
  int64_t max_token_lifetime_seconds = 10LL * 365 * 86400;  // expires_in_seconds above this is INVALID_ARGUMENT
};

class AdminServiceImpl final : public v1::AdminService::CallbackService {
 public:
  AdminServiceImpl(auth::TokenStore* tokens, Store* store, const Clock* clock, RevokeHostFn revoke_host,
                   LoggerPtr logger, AdminLimits limits = {})
      : tokens_(tokens), store_(store), clock_(clock), revoke_host_(std::move(revoke_host)),
        logger_(std::move(logger)), limits_(limits) {}

  using Base = v1::AdminService::CallbackService;
  using Base::CreateToken;
  using Base::ListTokens;
  using Base::RevokeHost;
  using Base::RevokeToken;

  grpc::ServerUnaryReactor* CreateToken(grpc::CallbackServerContext* ctx, const v1::CreateTokenRequest* req,
                                        v1::CreateTokenResponse* resp) override;
  grpc::ServerUnaryReactor* ListTokens(grpc::CallbackServerContext* ctx, const v1::ListTokensRequest* req,
                                       v1::ListTokensResponse* resp) override;
  grpc::ServerUnaryReactor* RevokeToken(grpc::CallbackServerContext* ctx, const v1::RevokeTokenRequest* req,
                                        v1::ApiToken* resp) override;
  grpc::ServerUnaryReactor* RevokeHost(grpc::CallbackServerContext* ctx, const v1::RevokeHostRequest* req,
                                       v1::RevokeHostResponse* resp) override;

 private:
  auth::TokenStore* const tokens_;
  Store* const store_;
  const Clock* const clock_;
  const RevokeHostFn revoke_host_;
  const LoggerPtr logger_;
  const AdminLimits limits_;
};

// A stored token as the API shows it (no hash).
v1::ApiToken ToProto(const auth::TokenRecord& record);

}  // namespace ksweep::server
