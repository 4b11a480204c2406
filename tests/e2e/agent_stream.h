// One agent's stream to a collector, spoken the way ksweep-agent speaks it (Hello, Welcome, then reports, each
// acknowledged only once stored), for hosts a test describes report by report: a Windows or macOS host before the
// agent can scan one, or a report no fixture root can produce. Use Fleet::StartAgent on a fixture root wherever the
// real agent can make the report.
#pragma once

// GCC 12 at -O2 sees "potential null dereferences" in gRPC's inlined sync client call ops that the gRPC API
// contract rules out (as in tests/integration/collector_test.cc).
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "ksweep/v1/agent.grpc.pb.h"

namespace ksweep::cli_test {

class AgentStream {
 public:
  // Opens the stream to the collector's agent port (plain text: the fleet runs --insecure).
  explicit AgentStream(const std::string& agent_address)
      : stub_(v1::AgentService::NewStub(grpc::CreateChannel(agent_address, grpc::InsecureChannelCredentials()))) {
    ctx_.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
    stream_ = stub_->Connect(&ctx_);
  }
  AgentStream(const AgentStream&) = delete;
  AgentStream& operator=(const AgentStream&) = delete;
  ~AgentStream() {
    stream_->WritesDone();
    ctx_.TryCancel();
  }

  // Hello with `facts` (the host the stream speaks for), then the collector's Welcome.
  ::testing::AssertionResult Greet(const v1::HostFacts& facts, const std::string& agent_version = "0.1.0") {
    v1::AgentMessage hello;
    *hello.mutable_hello()->mutable_host() = facts;
    hello.mutable_hello()->set_agent_version(agent_version);
    hello.mutable_hello()->set_rules_version("test");
    v1::CollectorMessage m;
    if (!stream_->Write(hello) || !stream_->Read(&m) || !m.has_welcome()) {
      return ::testing::AssertionFailure() << "no Welcome: " << stream_->Finish().error_message();
    }
    sequence_ = m.welcome().last_stored_sequence();
    return ::testing::AssertionSuccess();
  }

  // Sends `report` with the next sequence and waits for its Ack: when this returns, the collector has stored it.
  ::testing::AssertionResult Send(const v1::HostReport& report) {
    v1::AgentMessage out;
    auto* r = out.mutable_report();
    r->set_sequence(++sequence_);
    *r->mutable_report() = report;
    *r->mutable_agent_time() = google::protobuf::util::TimeUtil::GetCurrentTime();
    if (!stream_->Write(out)) return ::testing::AssertionFailure() << "report " << sequence_ << " not sent";
    // Other messages (a rules push, a ScanNow) may come first; the ack is what says the report is stored.
    v1::CollectorMessage m;
    while (stream_->Read(&m)) {
      if (m.has_ack() && m.ack().sequence() == sequence_) return ::testing::AssertionSuccess();
      if (m.has_scan_now()) ++scan_requests_;
    }
    return ::testing::AssertionFailure() << "report " << sequence_ << ": stream ended: "
                                         << stream_->Finish().error_message();
  }

  // ScanNow messages read so far (only while waiting for acks).
  int scan_requests() const { return scan_requests_; }

 private:
  std::unique_ptr<v1::AgentService::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::CollectorMessage>> stream_;
  uint64_t sequence_ = 0;
  int scan_requests_ = 0;
};

}  // namespace ksweep::cli_test
