// One host through the fleet API, for tests that wait on what the collector has stored.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <optional>
#include <string>

#include "ksweep/v1/fleet.grpc.pb.h"

namespace ksweep::test {

// The collector's view of host `name` (id or hostname), or nullopt when it does not know it (yet) or does not answer
// within 10 s: callers poll until what they wait for shows.
inline std::optional<v1::Host> LookUpHost(v1::FleetService::Stub& fleet, const std::string& name) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::GetHostRequest request;
  request.set_host(name);
  v1::Host host;
  if (!fleet.GetHost(&context, request, &host).ok()) return std::nullopt;
  return host;
}

}  // namespace ksweep::test
