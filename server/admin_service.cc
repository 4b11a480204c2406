#include "server/admin_service.h"

#include <google/protobuf/util/time_util.h>

#include "server/auth/api_auth.h"
#include "server/grpc_status.h"

namespace ksweep::server {

using google::protobuf::util::TimeUtil;

namespace {

// OK with `caller` set for an admin token; the refusal otherwise.
grpc::Status RequireAdmin(const grpc::CallbackServerContext& ctx, auth::Caller* caller) {
  auto c = auth::CallerFromContext(ctx);
  if (!c) return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "the admin API needs TLS and an admin token");
  if (c->role != auth::Role::kAdmin) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "this call needs an admin token");
  }
  *caller = std::move(*c);
  return grpc::Status::OK;
}

std::string Who(const auth::Caller& c) { return "by_token_id=" + c.token_id + " by_token_name=" + c.token_name; }

}  // namespace

v1::ApiToken ToProto(const auth::TokenRecord& r) {
  v1::ApiToken t;
  t.set_id(r.id);
  t.set_name(r.name);
  t.set_role(r.role == auth::Role::kAdmin ? v1::TOKEN_ROLE_ADMIN : v1::TOKEN_ROLE_VIEWER);
  *t.mutable_created() = TimeUtil::MicrosecondsToTimestamp(r.created);
  if (r.expires != 0) *t.mutable_expires() = TimeUtil::MicrosecondsToTimestamp(r.expires);
  t.set_revoked(r.revoked);
  if (r.revoked) *t.mutable_revoked_at() = TimeUtil::MicrosecondsToTimestamp(r.revoked_at);
  if (r.last_used != 0) *t.mutable_last_used() = TimeUtil::MicrosecondsToTimestamp(r.last_used);
  return t;
}

grpc::ServerUnaryReactor* AdminServiceImpl::CreateToken(grpc::CallbackServerContext* ctx,
                                                        const v1::CreateTokenRequest* req,
                                                        v1::CreateTokenResponse* resp) {
  auth::Caller caller;
  if (grpc::Status s = RequireAdmin(*ctx, &caller); !s.ok()) return FinishUnary(ctx, s);
  auth::Role role = auth::Role::kViewer;
  if (req->role() == v1::TOKEN_ROLE_ADMIN) {
    role = auth::Role::kAdmin;
  } else if (req->role() != v1::TOKEN_ROLE_VIEWER) {
    return FinishUnary(ctx, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "role: give TOKEN_ROLE_VIEWER or TOKEN_ROLE_ADMIN"));
  }
  if (req->expires_in_seconds() < 0 || req->expires_in_seconds() > limits_.max_token_lifetime_seconds) {
    return FinishUnary(ctx, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                  "expires_in_seconds: 0 (never) to " +
                                      std::to_string(limits_.max_token_lifetime_seconds)));
  }
  const Micros now = clock_->Now();
  const Micros expires = req->expires_in_seconds() == 0 ? 0 : now + req->expires_in_seconds() * kMicrosPerSecond;
  auto token = auth::CreateToken(tokens_, req->name(), role, now, expires);
  if (!token.ok()) {
    logger_->warn("audit token create failed name=\"{}\" {} error=\"{}\"", req->name().substr(0, 64), Who(caller),
                  token.status().message());
    return FinishUnary(ctx, ToGrpc(token.status()));
  }
  *resp->mutable_token() = ToProto(token->record);
  resp->set_secret(token->text);
  logger_->info("audit token created token_id={} token_name={} role={} expires={} {}", token->record.id,
                token->record.name, auth::RoleName(role), expires, Who(caller));
  return FinishUnary(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListTokens(grpc::CallbackServerContext* ctx, const v1::ListTokensRequest*,
                                                       v1::ListTokensResponse* resp) {
  auth::Caller caller;
  if (grpc::Status s = RequireAdmin(*ctx, &caller); !s.ok()) return FinishUnary(ctx, s);
  auto list = tokens_->List();
  if (!list.ok()) return FinishUnary(ctx, ToGrpc(list.status()));
  for (const auto& r : *list) *resp->add_tokens() = ToProto(r);
  logger_->info("audit tokens listed count={} {}", resp->tokens_size(), Who(caller));
  return FinishUnary(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* AdminServiceImpl::RevokeToken(grpc::CallbackServerContext* ctx,
                                                        const v1::RevokeTokenRequest* req, v1::ApiToken* resp) {
  auth::Caller caller;
  if (grpc::Status s = RequireAdmin(*ctx, &caller); !s.ok()) return FinishUnary(ctx, s);
  if (req->token().empty()) {
    return FinishUnary(ctx, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "token: give a token name or id"));
  }
  auto r = tokens_->Revoke(req->token(), clock_->Now());
  if (!r.ok()) {
    logger_->warn("audit token revoke failed token=\"{}\" {} error=\"{}\"", req->token().substr(0, 64), Who(caller),
                  r.status().message());
    return FinishUnary(ctx, ToGrpc(r.status()));
  }
  *resp = ToProto(*r);
  logger_->info("audit token revoked token_id={} token_name={} {}", r->id, r->name, Who(caller));
  return FinishUnary(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* AdminServiceImpl::RevokeHost(grpc::CallbackServerContext* ctx,
                                                       const v1::RevokeHostRequest* req,
                                                       v1::RevokeHostResponse* resp) {
  auth::Caller caller;
  if (grpc::Status s = RequireAdmin(*ctx, &caller); !s.ok()) return FinishUnary(ctx, s);
  if (req->host().empty()) {
    return FinishUnary(ctx, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "host: give a host id or hostname"));
  }
  if (!revoke_host_) {
    logger_->warn("audit host revoke unavailable host=\"{}\" {}", req->host().substr(0, 255), Who(caller));
    return FinishUnary(ctx, grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                  "RevokeHost: this collector has no certificate authority (plain-text agents)"));
  }
  // A hostname is resolved to its host id; a host id not (or no longer) in the fleet is revoked as given.
  std::string host_id = req->host();
  auto host = store_->GetHost(req->host(), 1);
  if (host.ok()) {
    host_id = host->summary().host_id();
  } else if (host.status().code() != Status::Code::kNotFound) {
    return FinishUnary(ctx, ToGrpc(host.status()));
  }
  auto r = revoke_host_(host_id, "token:" + caller.token_name);
  if (!r.ok()) {
    logger_->warn("audit host revoke failed host_id={} {} error=\"{}\"", host_id, Who(caller), r.status().message());
    return FinishUnary(ctx, ToGrpc(r.status()));
  }
  resp->set_host_id(host_id);
  resp->set_certificates_revoked(*r);
  logger_->info("audit host revoked host_id={} certificates={} reason=\"{}\" {}", host_id, *r,
                req->reason().substr(0, 200), Who(caller));
  return FinishUnary(ctx, grpc::Status::OK);
}

}  // namespace ksweep::server
