// EnrollmentService on the agent port. Enroll: no client certificate, the enrollment secret, a CSR; rate-limited per
// source address (every attempt counts, good or bad). Renew: the verified client certificate, a CSR.
//
// gRPC codes: UNAUTHENTICATED for a wrong or missing secret, a missing, unknown, revoked or expired client
// certificate; RESOURCE_EXHAUSTED past the per-source limit; INVALID_ARGUMENT for a bad host id or CSR (a CSR not
// signed by its own key). A refused call changes nothing but the audit table.
#pragma once

#include <grpcpp/grpcpp.h>

#include "common/logging.h"
#include "ksweep/v1/enroll.grpc.pb.h"
#include "server/pki/authority.h"
#include "server/pki/rate_limiter.h"

namespace ksweep::server::pki {

class EnrollmentServiceImpl final : public v1::EnrollmentService::Service {
 public:
  EnrollmentServiceImpl(Authority* authority, RateLimit limit, LoggerPtr logger)
      : authority_(authority), limiter_(limit), limit_(limit), logger_(std::move(logger)) {}

  grpc::Status Enroll(grpc::ServerContext* context, const v1::EnrollRequest* request,
                      v1::EnrollResponse* response) override;
  grpc::Status Renew(grpc::ServerContext* context, const v1::RenewRequest* request,
                     v1::EnrollResponse* response) override;

 private:
  Authority* const authority_;
  RateLimiter limiter_;
  const RateLimit limit_;
  const LoggerPtr logger_;
};

// "ipv4:10.1.2.3:5555" -> "10.1.2.3", "ipv6:[::1]:5555" -> "::1": the rate-limit key (ports change per connection).
std::string SourceAddress(const std::string& peer);

}  // namespace ksweep::server::pki
