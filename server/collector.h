// The collector process minus main(): the store, both gRPC servers, the maintenance timer and graceful shutdown.
// Tests and benchmarks start one in-process on port 0 the same way main() does.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "common/logging.h"
#include "server/admin_service.h"
#include "server/agent_service.h"
#include "server/auth/api_auth.h"
#include "server/auth/token_store.h"
#include "server/clock.h"
#include "server/event_bus.h"
#include "server/fleet_service.h"
#include "server/pki/authority.h"
#include "server/pki/enrollment_service.h"
#include "server/rules_distribution.h"
#include "server/store/store.h"

namespace ksweep::server {

struct CollectorOptions {
  std::string data_dir;
  std::string agent_listen = "0.0.0.0:7443";
  std::string api_listen = "127.0.0.1:7444";
  Micros stale_after = 24 * 3600 * kMicrosPerSecond;
  Micros expire_after = 0;                 // 0: never
  std::string expire_label = "ephemeral";  // empty: every host may expire
  int64_t sweep_interval_seconds = 60;     // stale sweep period
  int64_t shutdown_grace_seconds = 10;     // streams still open after this are cancelled
  AgentLimits agent;
  FleetLimits fleet;
  // false (the default): the agent port is TLS with the certificates of DATA/pki (`ksweep-collector init`), client
  // certificates requested and verified, EnrollmentService served beside AgentService. true: plain text, no
  // enrollment, no identity checks.
  bool insecure = false;
  pki::AuthorityOptions pki;   // agent certificate lifetime
  pki::RateLimit enroll;       // Enroll attempts per source address
  auth::ApiAuthLimits api_auth;  // API requests per token (TLS only; --insecure has no tokens)
  // Detection rules to send agents that report another rules version (rules_distribution.h); empty: send none.
  std::string rules_file;
};

// The file (in the data dir) where a running collector writes its bound addresses, one key=value per line:
// agent_listen=HOST:PORT, api_listen=HOST:PORT, pid=N. Removed at shutdown.
inline constexpr char kPortsFile[] = "collector.ports";

class Collector {
 public:
  // Opens DATA_DIR (created if missing, locked against a second collector), the store, and starts serving.
  // kInvalidArgument for a bad option, kIoError/kUnavailable for a data dir or address that cannot be used.
  static Result<std::unique_ptr<Collector>> Start(CollectorOptions options, const Clock* clock, LoggerPtr logger);
  ~Collector();

  const std::string& agent_address() const { return agent_address_; }
  const std::string& api_address() const { return api_address_; }
  Store* store() const { return store_.get(); }
  StreamRegistry* streams() { return &registry_; }
  // Null with --insecure.
  pki::Authority* authority() const { return authority_.get(); }

  // Revokes every certificate of `host_id` and ends its live agent streams (the AdminService calls this for
  // `ksweep hosts revoke HOST`). Returns how many certificates were live. kUnavailable with --insecure.
  Result<int> RevokeHost(const std::string& host_id, const std::string& actor);

  // Re-reads --rules FILE (SIGHUP) and sends the new set to connected agents running another version. On error the
  // current rules stay. kInvalidArgument when the collector was started without --rules.
  Status ReloadRules();

  // Stops accepting, lets open streams write their pending acks and finish, flushes the writer, closes the store.
  // Idempotent.
  void Shutdown();

 private:
  Collector(CollectorOptions options, const Clock* clock, LoggerPtr logger);
  Status Run();
  void Maintenance();

  const CollectorOptions options_;
  const Clock* const clock_;
  const LoggerPtr logger_;
  int lock_fd_ = -1;
  EventBus bus_;
  StreamRegistry registry_;
  StorePtr store_;
  std::unique_ptr<pki::Authority> authority_;
  std::unique_ptr<pki::EnrollmentServiceImpl> enrollment_service_;
  std::unique_ptr<RulesDistribution> rules_;  // null without --rules
  std::unique_ptr<AgentServiceImpl> agent_service_;
  std::unique_ptr<FleetServiceImpl> fleet_service_;
  auth::TokenStorePtr tokens_;  // DATA/tokens.db; null with --insecure
  std::unique_ptr<AdminServiceImpl> admin_service_;
  std::unique_ptr<grpc::Server> agent_server_;
  std::unique_ptr<grpc::Server> api_server_;
  std::string agent_address_;
  std::string api_address_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread maintenance_;
  bool shut_down_ = false;
};

}  // namespace ksweep::server
