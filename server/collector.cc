#include "server/collector.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/tls/credentials.h"
#include "server/store/sqlite_store.h"

namespace ksweep::server {

namespace fs = std::filesystem;

namespace {

std::string BoundAddress(const std::string& requested, int port) {
  const auto colon = requested.rfind(':');
  const std::string host = colon == std::string::npos ? requested : requested.substr(0, colon);
  return host + ":" + std::to_string(port);
}

int64_t SteadyMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Collector::Collector(CollectorOptions options, const Clock* clock, LoggerPtr logger)
    : options_(std::move(options)), clock_(clock), logger_(std::move(logger)) {}

Result<std::unique_ptr<Collector>> Collector::Start(CollectorOptions options, const Clock* clock, LoggerPtr logger) {
  if (!logger) logger = NullLogger();
  std::unique_ptr<Collector> c(new Collector(std::move(options), clock, std::move(logger)));
  Status s = c->Run();
  if (!s.ok()) {
    c->Shutdown();
    return s;
  }
  return c;
}

Status Collector::Run() {
  const auto& o = options_;
  if (o.data_dir.empty()) return Status::InvalidArgument("--data: no data directory given");
  // First: a rules file that cannot be sent is a configuration error, found before anything is opened.
  if (!o.rules_file.empty()) {
    auto rules = RulesDistribution::Load(o.rules_file);
    if (!rules.ok()) return Status::InvalidArgument("--rules: " + rules.status().message());
    rules_ = std::move(*rules);
    logger_->info("rules loaded file={} version={}", rules_->path(), rules_->version());
  }
  std::error_code ec;
  fs::create_directories(o.data_dir, ec);
  if (ec || !fs::is_directory(o.data_dir)) {
    return Status::IoError("data dir '" + o.data_dir + "': cannot create: " +
                           (ec ? ec.message() : std::string("not a directory")));
  }
  const std::string lock_path = (fs::path(o.data_dir) / "collector.lock").string();
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) {
    return Status::IoError("data dir '" + o.data_dir + "': cannot open " + lock_path + ": " + std::strerror(errno));
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd_);
    lock_fd_ = -1;
    return Status::Unavailable("data dir '" + o.data_dir + "' is in use by another collector (" + lock_path +
                               " is locked)");
  }
  const fs::path ports_path = fs::path(o.data_dir) / kPortsFile;
  fs::remove(ports_path, ec);

  SqliteStoreOptions so;
  so.path = (fs::path(o.data_dir) / "ksweep.db").string();
  so.stale_after = o.stale_after;
  so.expire_after = o.expire_after;
  so.expire_label = o.expire_label;
  so.clock = clock_;
  so.events = &bus_;
  so.logger = logger_;
  auto store = SqliteStore::Open(std::move(so));
  if (!store.ok()) return store.status();
  store_ = std::move(*store);

  std::shared_ptr<grpc::ServerCredentials> agent_creds = grpc::InsecureServerCredentials();
  if (!o.insecure) {
    auto authority = pki::Authority::Open(o.data_dir, o.pki, clock_, logger_);
    if (!authority.ok()) return authority.status();
    authority_ = std::move(*authority);
    const auto& p = authority_->paths();
    // Requested, not required: Enroll comes without a client certificate. AgentService.Connect and Renew refuse a
    // call that has none; a certificate that is sent must chain to our CA or the handshake fails.
    auto creds = tls::MakeServerCredentials(
        {p.server_cert, p.server_key, p.ca_cert, tls::ClientCertPolicy::kRequestAndVerify});
    if (!creds.ok()) return creds.status();
    agent_creds = *creds;
    enrollment_service_ = std::make_unique<pki::EnrollmentServiceImpl>(authority_.get(), o.enroll, logger_);
  }
  agent_service_ = std::make_unique<AgentServiceImpl>(store_.get(), &registry_, clock_, o.agent, logger_,
                                                      authority_.get(), rules_.get());
  fleet_service_ = std::make_unique<FleetServiceImpl>(store_.get(), &registry_, &bus_, o.fleet, logger_);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  int agent_port = 0;
  grpc::ServerBuilder agent_builder;
  agent_builder.AddListeningPort(o.agent_listen, agent_creds, &agent_port);
  agent_builder.RegisterService(agent_service_.get());
  if (enrollment_service_) agent_builder.RegisterService(enrollment_service_.get());
  agent_builder.SetMaxReceiveMessageSize(o.agent.max_receive_message_bytes);
  agent_builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, o.agent.keepalive_time_ms);
  agent_builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, o.agent.keepalive_timeout_ms);
  agent_builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  agent_builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                                   o.agent.keepalive_min_ping_interval_ms);
  agent_builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  agent_server_ = agent_builder.BuildAndStart();
  if (!agent_server_ || agent_port == 0) {
    return Status::Unavailable("--agent-listen '" + o.agent_listen + "': cannot listen (address in use or invalid)");
  }
  agent_address_ = BoundAddress(o.agent_listen, agent_port);

  // The API port: TLS with the server certificate, no client certificates asked for (an agent's certificate is no
  // key to the fleet API), a bearer token on every call, checked by the ApiAuthProcessor before any handler runs.
  std::shared_ptr<grpc::ServerCredentials> api_creds = grpc::InsecureServerCredentials();
  if (!o.insecure) {
    auto tokens = auth::OpenSqliteTokenStore(auth::TokenStorePath(o.data_dir));
    if (!tokens.ok()) return tokens.status();
    tokens_ = std::move(*tokens);
    const auto& p = authority_->paths();
    auto creds = tls::MakeServerCredentials({p.server_cert, p.server_key, "", tls::ClientCertPolicy::kNone});
    if (!creds.ok()) return creds.status();
    api_creds = *creds;
    api_creds->SetAuthMetadataProcessor(
        std::make_shared<auth::ApiAuthProcessor>(tokens_.get(), clock_, o.api_auth, logger_));
  }
  // With --insecure the AdminService is there but refuses every call (it needs a token, tokens need TLS).
  admin_service_ = std::make_unique<AdminServiceImpl>(
      tokens_.get(), store_.get(), clock_,
      [this](const std::string& host_id, const std::string& actor) { return RevokeHost(host_id, actor); }, logger_);
  int api_port = 0;
  grpc::ServerBuilder api_builder;
  api_builder.AddListeningPort(o.api_listen, api_creds, &api_port);
  api_builder.RegisterService(fleet_service_.get());
  api_builder.RegisterService(admin_service_.get());
  api_server_ = api_builder.BuildAndStart();
  if (!api_server_ || api_port == 0) {
    return Status::Unavailable("--api-listen '" + o.api_listen + "': cannot listen (address in use or invalid)");
  }
  api_address_ = BoundAddress(o.api_listen, api_port);

  maintenance_ = std::thread([this] { Maintenance(); });

  // Written last, atomically: its presence means both ports accept calls.
  const fs::path tmp = ports_path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "agent_listen=" << agent_address_ << "\napi_listen=" << api_address_ << "\npid=" << ::getpid() << "\n";
    if (!out) return Status::IoError("data dir '" + o.data_dir + "': cannot write " + tmp.string());
  }
  fs::rename(tmp, ports_path, ec);
  if (ec) return Status::IoError("data dir '" + o.data_dir + "': cannot write " + ports_path.string());
  logger_->info("collector listening agent_listen={} api_listen={} data={} agent_tls={}", agent_address_, api_address_,
                o.data_dir, o.insecure ? "off" : "mtls");
  return Status::Ok();
}

void Collector::Maintenance() {
  auto next_sweep = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    const int closed = registry_.CloseIdle(SteadyMicros(), options_.agent.idle_timeout_seconds);
    if (closed > 0) logger_->info("idle agent streams closed count={}", closed);
    if (std::chrono::steady_clock::now() >= next_sweep) {
      auto events = store_->SweepStale(clock_->Now());
      if (!events.ok()) {
        logger_->error("stale sweep failed error=\"{}\"", events.status().message());
      } else if (!events->empty()) {
        logger_->info("stale sweep events={}", events->size());
      }
      next_sweep = std::chrono::steady_clock::now() + std::chrono::seconds(options_.sweep_interval_seconds);
    }
    lock.lock();
    // A timer tick, not synchronisation: Shutdown() wakes it at once.
    cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
  }
}

void Collector::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  logger_->info("collector shutting down");
  registry_.DrainAll(grpc::Status(grpc::StatusCode::UNAVAILABLE, "collector is shutting down"));
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(options_.shutdown_grace_seconds);
  if (agent_server_) agent_server_->Shutdown(deadline);
  // Watchers never end by themselves: a short grace, then they are cancelled.
  if (api_server_) api_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (maintenance_.joinable()) maintenance_.join();
  if (store_) {
    Status s = store_->Close();
    if (!s.ok()) logger_->error("store close failed error=\"{}\"", s.message());
  }
  if (agent_server_) agent_server_->Wait();
  if (api_server_) api_server_->Wait();
  if (lock_fd_ >= 0) {
    std::error_code ec;
    fs::remove(fs::path(options_.data_dir) / kPortsFile, ec);
    ::close(lock_fd_);
    lock_fd_ = -1;
  }
  logger_->info("collector stopped");
}

Result<int> Collector::RevokeHost(const std::string& host_id, const std::string& actor) {
  if (!authority_) return Status::Unavailable("revoke: the collector runs --insecure (no certificates to revoke)");
  auto n = authority_->Revoke(host_id, actor);
  if (!n.ok()) return n;
  const int dropped = registry_.DropIdentity(
      host_id, grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "host '" + host_id + "': certificate revoked"));
  logger_->warn("event=audit action=revoke_streams host_id={} streams_closed={} actor={}", host_id, dropped, actor);
  return n;
}

Status Collector::ReloadRules() {
  if (!rules_) {
    logger_->warn("rules reload skipped reason=\"no --rules file\"");
    return Status::InvalidArgument("rules reload: the collector was started without --rules");
  }
  auto previous = rules_->Reload();
  if (!previous.ok()) {
    logger_->error("rules reload failed file={} error=\"{}\" kept_version={}", rules_->path(),
                   previous.status().message(), rules_->version());
    return previous.status();
  }
  const int pushed = registry_.SendRules(*rules_, logger_);
  logger_->info("rules reloaded file={} version={} previous_version={} pushed={}", rules_->path(), rules_->version(),
                *previous, pushed);
  return Status::Ok();
}

Collector::~Collector() { Shutdown(); }

}  // namespace ksweep::server
