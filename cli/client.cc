#include "cli/client.h"

namespace ksweep::cli {
namespace {

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
                                 "); is ksweep-collector running there? Set --server or " + "KSWEEP_SERVER");
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Status::Timeout("the collector at " + server + " did not answer " + rpc + " within " + Seconds(timeout) +
                             " (--timeout)");
    case grpc::StatusCode::INVALID_ARGUMENT:
      return Status::InvalidArgument("the collector rejected the request: " + detail);
    case grpc::StatusCode::NOT_FOUND:
      return Status::NotFound(detail.empty() ? "not found" : detail);
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
      return Status::PermissionDenied("the collector at " + server + " refused " + rpc + ": " + detail);
    default:
      return Status::Internal(rpc + " failed at " + server + ": " + GrpcCodeName(status.error_code()) +
                              (detail.empty() ? "" : ": " + detail));
  }
}

FleetClient::FleetClient(std::string server, std::chrono::milliseconds timeout, LoggerPtr log)
    : server_(std::move(server)), timeout_(timeout), log_(std::move(log)) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxResponseBytes);
  // Plain text until TLS lands (--insecure is accepted and will then be required for this).
  channel_ = grpc::CreateCustomChannel(server_, grpc::InsecureChannelCredentials(), args);
  stub_ = v1::FleetService::NewStub(channel_);
}

template <typename Request, typename Response, typename Method>
Result<Response> FleetClient::Call(const char* rpc, const Request& request, Method method) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout_);
  Response response;
  const auto start = std::chrono::steady_clock::now();
  const grpc::Status status = (stub_.get()->*method)(&context, request, &response);
  const auto elapsed =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count();
  log_->debug("rpc={} server={} code={} elapsed_us={} response_bytes={}", rpc, server_,
              GrpcCodeName(status.error_code()), elapsed, status.ok() ? response.ByteSizeLong() : 0);
  if (!status.ok()) return FromGrpc(status, server_, rpc, timeout_);
  return response;
}

Result<v1::Summary> FleetClient::GetSummary() {
  return Call<v1::GetSummaryRequest, v1::Summary>("GetSummary", v1::GetSummaryRequest(),
                                                  &v1::FleetService::Stub::GetSummary);
}

Result<v1::ListHostsResponse> FleetClient::ListHosts(const v1::ListHostsRequest& request) {
  return Call<v1::ListHostsRequest, v1::ListHostsResponse>("ListHosts", request, &v1::FleetService::Stub::ListHosts);
}

Result<v1::Host> FleetClient::GetHost(const v1::GetHostRequest& request) {
  return Call<v1::GetHostRequest, v1::Host>("GetHost", request, &v1::FleetService::Stub::GetHost);
}

Result<v1::ListEventsResponse> FleetClient::ListEvents(const v1::ListEventsRequest& request) {
  return Call<v1::ListEventsRequest, v1::ListEventsResponse>("ListEvents", request,
                                                             &v1::FleetService::Stub::ListEvents);
}

Result<v1::Trend> FleetClient::GetTrend(const v1::GetTrendRequest& request) {
  return Call<v1::GetTrendRequest, v1::Trend>("GetTrend", request, &v1::FleetService::Stub::GetTrend);
}

Result<v1::RequestScanResponse> FleetClient::RequestScan(const v1::RequestScanRequest& request) {
  return Call<v1::RequestScanRequest, v1::RequestScanResponse>("RequestScan", request,
                                                               &v1::FleetService::Stub::RequestScan);
}

void FleetClient::RetryConnectionNow() { grpc::experimental::ChannelResetConnectionBackoff(channel_.get()); }

bool FleetClient::WaitForConnection(std::chrono::milliseconds d) {
  return channel_->WaitForConnected(std::chrono::system_clock::now() + d);
}

Status FleetClient::WatchEvents(const v1::WatchEventsRequest& request, grpc::ClientContext* context,
                                const std::function<bool(const v1::Event&)>& on_event) {
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
  if (status.ok()) {
    return Status::Unavailable("the collector at " + server_ + " ended the event stream");
  }
  return FromGrpc(status, server_, "WatchEvents", timeout_);
}

}  // namespace ksweep::cli
