#include "cli/client.h"

#include <charconv>

#include "common/protocol.h"
#include "common/tls/credentials.h"

namespace ksweep::cli {
namespace {

// The resume id of a stream cut off for lagging, or -1 when `status` is not that (another RESOURCE_EXHAUSTED, such
// as the per-token rate limit, carries no trailer).
int64_t LagResumeAfterId(const grpc::Status& status, const grpc::ClientContext& context) {
  if (status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) return -1;
  const auto& trailers = context.GetServerTrailingMetadata();
  const auto it = trailers.find(kResumeAfterIdTrailer);
  if (it == trailers.end()) return -1;
  int64_t id = -1;
  const char* begin = it->second.data();
  const char* end = begin + it->second.size();
  const auto [ptr, ec] = std::from_chars(begin, end, id);
  if (ec != std::errc() || ptr != end || id < 0) return -1;
  return id;
}

const char* GrpcCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

std::string Seconds(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  return std::to_string(d.count()) + " ms";
}

}  // namespace

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case Status::Code::kOk: return kExitOk;
    case Status::Code::kInvalidArgument: return kExitUsage;
    case Status::Code::kNotFound: return kExitNotFound;
    case Status::Code::kUnavailable:
    case Status::Code::kTimeout: return kExitUnreachable;
    case Status::Code::kPermissionDenied: return kExitRefused;
    default: return kExitError;
  }
}

Status FromGrpc(const grpc::Status& status, const std::string& server, const std::string& rpc,
                std::chrono::milliseconds timeout) {
  const std::string detail = status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      return Status::Ok();
    case grpc::StatusCode::UNAVAILABLE:
      return Status::Unavailable("cannot reach the collector at " + server + " (" + detail +
                                 "); is ksweep-collector running there? Set --server or KSWEEP_SERVER. A TLS "
                                 "collector needs its CA certificate (--ca-cert or KSWEEP_CA_CERT); an --insecure "
                                 "one needs --insecure");
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Status::Timeout("the collector at " + server + " did not answer " + rpc + " within " + Seconds(timeout) +
                             " (--timeout)");
    case grpc::StatusCode::INVALID_ARGUMENT:
      return Status::InvalidArgument("the collector rejected the request: " + detail);
    case grpc::StatusCode::NOT_FOUND:
      return Status::NotFound(detail.empty() ? "not found" : detail);
    case grpc::StatusCode::PERMISSION_DENIED:
      return Status::PermissionDenied("the collector at " + server + " refused " + rpc + ": " + detail);
    case grpc::StatusCode::UNAUTHENTICATED:
      return Status::PermissionDenied("the collector at " + server + " refused " + rpc + ": " + detail +
                                      " (the token comes from KSWEEP_TOKEN, --token-file or KSWEEP_TOKEN_FILE)");
    default:
      return Status::Internal(rpc + " failed at " + server + ": " + GrpcCodeName(status.error_code()) +
                              (detail.empty() ? "" : ": " + detail));
  }
}

Result<std::unique_ptr<FleetClient>> FleetClient::Make(const ClientOptions& options, LoggerPtr log) {
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (options.insecure) {
    creds = grpc::InsecureChannelCredentials();
  } else {
    auto tls = tls::MakeChannelCredentialsFromPem(options.ca_pem, "", "");
    if (!tls.ok()) return Status::InvalidArgument("--ca-cert: " + tls.status().message());
    creds = *tls;
    // gRPC's own bearer-token call credentials: `authorization: Bearer <token>` on every call, and never sent on a
    // channel without transport security.
    if (!options.token.empty()) {
      creds = grpc::CompositeChannelCredentials(creds, grpc::AccessTokenCredentials(options.token));
    }
  }
  return std::unique_ptr<FleetClient>(new FleetClient(options, std::move(creds), std::move(log)));
}

FleetClient::FleetClient(const ClientOptions& options, std::shared_ptr<grpc::ChannelCredentials> creds, LoggerPtr log)
    : server_(options.server), timeout_(options.timeout), log_(std::move(log)) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxResponseBytes);
  channel_ = grpc::CreateCustomChannel(server_, creds, args);
  stub_ = v1::FleetService::NewStub(channel_);
  admin_ = v1::AdminService::NewStub(channel_);
}

template <typename Request, typename Response, typename Stub, typename Method>
Result<Response> FleetClient::Call(const char* rpc, const Request& request, Stub* stub, Method method) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout_);
  Response response;
  const auto start = std::chrono::steady_clock::now();
  const grpc::Status status = (stub->*method)(&context, request, &response);
  const auto elapsed =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count();
  log_->debug("rpc={} server={} code={} elapsed_us={} response_bytes={}", rpc, server_,
              GrpcCodeName(status.error_code()), elapsed, status.ok() ? response.ByteSizeLong() : 0);
  if (!status.ok()) return FromGrpc(status, server_, rpc, timeout_);
  return response;
}

Result<v1::Summary> FleetClient::GetSummary() {
  return Call<v1::GetSummaryRequest, v1::Summary>("GetSummary", v1::GetSummaryRequest(), stub_.get(),
                                                  &v1::FleetService::Stub::GetSummary);
}

Result<v1::ListHostsResponse> FleetClient::ListHosts(const v1::ListHostsRequest& request) {
  return Call<v1::ListHostsRequest, v1::ListHostsResponse>("ListHosts", request, stub_.get(),
                                                           &v1::FleetService::Stub::ListHosts);
}

Result<v1::Host> FleetClient::GetHost(const v1::GetHostRequest& request) {
  return Call<v1::GetHostRequest, v1::Host>("GetHost", request, stub_.get(), &v1::FleetService::Stub::GetHost);
}

Result<v1::ListEventsResponse> FleetClient::ListEvents(const v1::ListEventsRequest& request) {
  return Call<v1::ListEventsRequest, v1::ListEventsResponse>("ListEvents", request, stub_.get(),
                                                             &v1::FleetService::Stub::ListEvents);
}

Result<v1::Trend> FleetClient::GetTrend(const v1::GetTrendRequest& request) {
  return Call<v1::GetTrendRequest, v1::Trend>("GetTrend", request, stub_.get(), &v1::FleetService::Stub::GetTrend);
}

Result<v1::RequestScanResponse> FleetClient::RequestScan(const v1::RequestScanRequest& request) {
  return Call<v1::RequestScanRequest, v1::RequestScanResponse>("RequestScan", request, stub_.get(),
                                                               &v1::FleetService::Stub::RequestScan);
}

Result<v1::CreateTokenResponse> FleetClient::CreateToken(const v1::CreateTokenRequest& request) {
  return Call<v1::CreateTokenRequest, v1::CreateTokenResponse>("CreateToken", request, admin_.get(),
                                                               &v1::AdminService::Stub::CreateToken);
}

Result<v1::ListTokensResponse> FleetClient::ListTokens() {
  return Call<v1::ListTokensRequest, v1::ListTokensResponse>("ListTokens", v1::ListTokensRequest(), admin_.get(),
                                                             &v1::AdminService::Stub::ListTokens);
}

Result<v1::ApiToken> FleetClient::RevokeToken(const v1::RevokeTokenRequest& request) {
  return Call<v1::RevokeTokenRequest, v1::ApiToken>("RevokeToken", request, admin_.get(),
                                                    &v1::AdminService::Stub::RevokeToken);
}

Result<v1::RevokeHostResponse> FleetClient::RevokeHost(const v1::RevokeHostRequest& request) {
  return Call<v1::RevokeHostRequest, v1::RevokeHostResponse>("RevokeHost", request, admin_.get(),
                                                             &v1::AdminService::Stub::RevokeHost);
}

void FleetClient::RetryConnectionNow() { grpc::experimental::ChannelResetConnectionBackoff(channel_.get()); }

bool FleetClient::WaitForConnection(std::chrono::milliseconds d) {
  return channel_->WaitForConnected(std::chrono::system_clock::now() + d);
}

Status FleetClient::WatchEvents(const v1::WatchEventsRequest& request, grpc::ClientContext* context,
                                const std::function<bool(const v1::Event&)>& on_event, int64_t* lag_resume_after_id) {
  *lag_resume_after_id = -1;
  log_->debug("rpc=WatchEvents server={} after_id={}", server_, request.after_id());
  auto reader = stub_->WatchEvents(context, request);
  v1::Event event;
  bool stopped_by_caller = false;
  while (reader->Read(&event)) {
    if (!on_event(event)) {
      stopped_by_caller = true;
      context->TryCancel();
      break;
    }
  }
  const grpc::Status status = reader->Finish();
  log_->debug("rpc=WatchEvents server={} code={} message={}", server_, GrpcCodeName(status.error_code()),
              status.error_message());
  if (stopped_by_caller) return Status::Ok();
  *lag_resume_after_id = LagResumeAfterId(status, *context);
  if (status.ok()) {
    return Status::Unavailable("the collector at " + server_ + " ended the event stream");
  }
  return FromGrpc(status, server_, "WatchEvents", timeout_);
}

}  // namespace ksweep::cli
