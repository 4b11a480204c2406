#include "server/auth/api_auth.h"

namespace ksweep::server::auth {
namespace {

// last_used is written at most this often per token: a busy script must not turn every read into a write.
constexpr Micros kLastUsedGranularity = 60 * kMicrosPerSecond;

std::string ToString(grpc::string_ref s) { return std::string(s.data(), s.size()); }

std::string FirstProperty(const grpc::AuthContext& ctx, const char* name) {
  auto values = ctx.FindPropertyValues(name);
  return values.empty() ? std::string() : ToString(values.front());
}

}  // namespace

Role MethodRole(std::string_view path) {
  constexpr std::string_view kFleet = "/ksweep.v1.FleetService/";
  if (path.starts_with(kFleet)) {
    return path.substr(kFleet.size()) == "RequestScan" ? Role::kAdmin : Role::kViewer;
  }
  if (path.starts_with("/grpc.health.v1.Health/") || path.starts_with("/grpc.reflection.v1alpha.ServerReflection/")) {
    return Role::kViewer;
  }
  return Role::kAdmin;
}

std::optional<Caller> CallerFromContext(const grpc::ServerContextBase& ctx) {
  auto auth = ctx.auth_context();
  if (!auth) return std::nullopt;
  const std::string id = FirstProperty(*auth, kPropertyTokenId);
  const std::string role = FirstProperty(*auth, kPropertyRole);
  if (id.empty() || role.empty()) return std::nullopt;
  auto parsed = ParseRole(role);
  if (!parsed.ok()) return std::nullopt;
  return Caller{id, FirstProperty(*auth, kPropertyTokenName), *parsed};
}

grpc::Status ApiAuthProcessor::Deny(grpc::StatusCode code, const std::string& method, const std::string& reason,
                                    const std::string& client_message) {
  logger_->warn("api call denied method={} code={} reason=\"{}\"", method,
                code == grpc::StatusCode::UNAUTHENTICATED     ? "UNAUTHENTICATED"
                : code == grpc::StatusCode::PERMISSION_DENIED ? "PERMISSION_DENIED"
                : code == grpc::StatusCode::RESOURCE_EXHAUSTED ? "RESOURCE_EXHAUSTED"
                                                               : "INTERNAL",
                reason);
  return grpc::Status(code, client_message);
}

grpc::Status ApiAuthProcessor::Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                                       OutputMetadata* consumed_auth_metadata, OutputMetadata*) {
  std::string method;
  if (auto it = auth_metadata.find(":path"); it != auth_metadata.end()) method = ToString(it->second);
  const auto range = auth_metadata.equal_range("authorization");
  if (range.first == range.second) {
    return Deny(grpc::StatusCode::UNAUTHENTICATED, method, "no authorization metadata",
                "missing 'authorization: Bearer <token>' metadata (make a token with `ksweep tokens create` or "
                "`ksweep-collector token create`)");
  }
  if (std::next(range.first) != range.second) {
    return Deny(grpc::StatusCode::UNAUTHENTICATED, method, "more than one authorization value",
                "authorization: give exactly one 'Bearer <token>' value");
  }
  auto token = ParseBearer(ToString(range.first->second));
  if (!token.ok()) {
    return Deny(grpc::StatusCode::UNAUTHENTICATED, method, token.status().message(), token.status().message());
  }
  const std::string hash = HashToken(*token);
  auto record = store_->FindByHash(hash);
  if (!record.ok()) {
    if (record.status().code() == Status::Code::kNotFound) {
      return Deny(grpc::StatusCode::UNAUTHENTICATED, method, "unknown token", "the token is not valid");
    }
    return Deny(grpc::StatusCode::INTERNAL, method, record.status().message(), "token check failed");
  }
  // The lookup matched on the hash already; comparing again in constant time costs nothing and keeps the match
  // from resting on how the index compares blobs.
  if (!ConstantTimeEqual(record->hash, hash)) {
    return Deny(grpc::StatusCode::UNAUTHENTICATED, method, "hash mismatch", "the token is not valid");
  }
  const std::string who = "token_id=" + record->id + " token_name=" + record->name;
  if (record->revoked) {
    return Deny(grpc::StatusCode::UNAUTHENTICATED, method, "revoked token " + who, "the token has been revoked");
  }
  const Micros now = clock_->Now();
  if (record->Expired(now)) {
    return Deny(grpc::StatusCode::UNAUTHENTICATED, method, "expired token " + who, "the token has expired");
  }
  const Role needed = MethodRole(method);
  if (needed == Role::kAdmin && record->role != Role::kAdmin) {
    return Deny(grpc::StatusCode::PERMISSION_DENIED, method, "role " + std::string(RoleName(record->role)) + " " + who,
                std::string("this call needs an admin token; token '") + record->name + "' is a " +
                    RoleName(record->role) + " token");
  }
  if (!limiter_.Allow(record->id)) {
    return Deny(grpc::StatusCode::RESOURCE_EXHAUSTED, method, "rate limit " + who,
                "rate limit: token '" + record->name + "' sent too many requests; slow down and retry");
  }
  if (now - record->last_used >= kLastUsedGranularity) {
    if (Status s = store_->SetLastUsed(record->id, now); !s.ok()) {
      logger_->warn("token last_used not updated token_id={} error=\"{}\"", record->id, s.message());
    }
  }
  context->AddProperty(kPropertyTokenId, record->id);
  context->AddProperty(kPropertyTokenName, record->name);
  context->AddProperty(kPropertyRole, RoleName(record->role));
  context->SetPeerIdentityPropertyName(kPropertyTokenName);
  consumed_auth_metadata->insert({"authorization", ToString(range.first->second)});
  if (needed == Role::kAdmin) {
    logger_->info("audit admin call method={} {} role={}", method, who, RoleName(record->role));
  } else {
    logger_->debug("api call method={} {}", method, who);
  }
  return grpc::Status::OK;
}

}  // namespace ksweep::server::auth
