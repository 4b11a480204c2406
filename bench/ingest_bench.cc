// Ingest benchmark: reports per second acknowledged (after COMMIT) by a real collector from many concurrent agent
// streams, against the same client harness talking to a null AgentService that stores nothing (the ceiling), in the
// same run. Usage: ingest_bench [--streams=64] [--reports=500] [--window=16] [--change-every=10] [--dir=DIR]
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ksweep/v1/agent.grpc.pb.h"
#include "server/collector.h"

// GCC 12 at -O2 sees "potential null dereferences" in gRPC's inlined sync client call ops; the API rules them out.
#pragma GCC diagnostic ignored "-Wnull-dereference"

namespace {

using namespace ksweep;  // NOLINT: a benchmark's main file

struct Params {
  int streams = 64;
  int reports = 500;  // per stream
  int window = 16;    // reports in flight per stream
  int change_every = 10;
  std::string dir;
  std::string only;  // empty: both sides
};

// Stores nothing: acks every report at once. The same reactor shape as the real service (one write in flight,
// an outbound queue), so the difference is the store.
class NullStream final : public grpc::ServerBidiReactor<v1::AgentMessage, v1::CollectorMessage> {
 public:
  NullStream() { StartRead(&in_); }
  void OnReadDone(bool ok) override {
    if (!ok) {
      std::lock_guard<std::mutex> lock(mu_);
      reading_done_ = true;
      MaybeFinish();
      return;
    }
    v1::CollectorMessage out;
    if (in_.has_hello()) {
      out.mutable_welcome()->set_heartbeat_interval_seconds(60);
    } else if (in_.has_report()) {
      out.mutable_ack()->set_sequence(in_.report().sequence());
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(out));
      NextWrite();
    }
    StartRead(&in_);
  }
  void OnWriteDone(bool) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    NextWrite();
    MaybeFinish();
  }
  void OnDone() override { delete this; }

 private:
  void NextWrite() {
    if (writing_ || queue_.empty()) return;
    current_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    StartWrite(&current_);
  }
  void MaybeFinish() {
    if (reading_done_ && !writing_ && queue_.empty() && !finished_) {
      finished_ = true;
      Finish(grpc::Status::OK);
    }
  }
  std::mutex mu_;
  v1::AgentMessage in_;
  v1::CollectorMessage current_;
  std::deque<v1::CollectorMessage> queue_;
  bool writing_ = false;
  bool reading_done_ = false;
  bool finished_ = false;
};

class NullAgentService final : public v1::AgentService::CallbackService {
 public:
  using v1::AgentService::CallbackService::Connect;
  grpc::ServerBidiReactor<v1::AgentMessage, v1::CollectorMessage>* Connect(grpc::CallbackServerContext*) override {
    return new NullStream();
  }
};

v1::AgentMessage MakeReport(const v1::HostFacts& facts, uint64_t seq, int change_every) {
  v1::AgentMessage m;
  auto* r = m.mutable_report();
  r->set_sequence(seq);
  auto* hr = r->mutable_report();
  *hr->mutable_host() = facts;
  hr->set_verdict(v1::VERDICT_RUNNING);
  hr->set_agent_version("0.1.0");
  hr->set_rules_version("2026.1");
  auto* f = hr->add_findings();
  f->set_product_id("kesl");
  f->set_product_name("Kaspersky Endpoint Security for Linux");
  f->set_vendor("Kaspersky");
  f->set_state(v1::PRODUCT_STATE_RUNNING);
  // A version that changes every `change_every` reports: that many VERSION_CHANGED events.
  f->set_version("12.1.0." + std::to_string(change_every > 0 ? seq / static_cast<uint64_t>(change_every) : 0));
  for (const char* path : {"/var/lib/dpkg/status", "/opt/kaspersky/kesl/bin/kesl", "/proc/1234"}) {
    auto* e = f->add_evidence();
    e->set_kind(v1::EVIDENCE_KIND_PATH);
    e->set_detail(std::string("found ") + path);
    e->set_path(path);
    e->set_strength(v1::STRENGTH_STRONG);
  }
  return m;
}

double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Runs the harness against `address`; returns acknowledged reports per second. `cpu_us` gets the process CPU time
// (harness and server together) per report.
double Drive(const std::string& address, const Params& p, const std::string& tag, int* errors, double* cpu_us) {
  grpc::ChannelArguments args;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  // A few connections, as many agents would use (each agent has its own).
  for (int i = 0; i < 8; ++i) {
    args.SetInt("ksweep.bench.channel", i);  // distinct args: distinct connections
    channels.push_back(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
  }
  std::atomic<int> failed{0};
  std::barrier start(p.streams + 1);
  std::barrier done(p.streams + 1);
  std::vector<std::thread> threads;
  for (int s = 0; s < p.streams; ++s) {
    threads.emplace_back([&, s] {
      auto stub = v1::AgentService::NewStub(channels[static_cast<size_t>(s) % channels.size()]);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
      auto stream = stub->Connect(&ctx);
      v1::HostFacts facts;
      facts.set_host_id(tag + "-host-" + std::to_string(s));
      facts.set_hostname("bench-" + std::to_string(s));
      facts.mutable_os()->set_id("debian");
      facts.mutable_os()->set_version_id("12");
      v1::AgentMessage hello;
      *hello.mutable_hello()->mutable_host() = facts;
      v1::CollectorMessage in;
      bool ok = stream->Write(hello) && stream->Read(&in) && in.has_welcome();
      start.arrive_and_wait();
      int sent = 0;
      int acked = 0;
      while (ok && acked < p.reports) {
        while (ok && sent < p.reports && sent - acked < p.window) {
          ok = stream->Write(MakeReport(facts, static_cast<uint64_t>(++sent), p.change_every));
        }
        if (ok && stream->Read(&in) && in.has_ack()) {
          ++acked;
        } else {
          ok = false;
        }
      }
      done.arrive_and_wait();
      stream->WritesDone();
      while (stream->Read(&in)) {
      }
      auto status = stream->Finish();
      if (!ok) {
        failed++;
        std::fprintf(stderr, "%s stream %d failed: %s\n", tag.c_str(), s, status.error_message().c_str());
      }
    });
  }
  start.arrive_and_wait();
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = CpuSeconds();
  done.arrive_and_wait();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  *cpu_us = (CpuSeconds() - c0) * 1e6 / (static_cast<double>(p.streams) * p.reports);
  for (auto& t : threads) t.join();
  *errors += failed.load();
  return static_cast<double>(p.streams) * p.reports / secs;
}

}  // namespace

int main(int argc, char** argv) {
  Params p;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto eq = a.find('=');
    const std::string key = a.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : a.substr(eq + 1);
    if (key == "--streams") {
      p.streams = std::stoi(value);
    } else if (key == "--reports") {
      p.reports = std::stoi(value);
    } else if (key == "--window") {
      p.window = std::stoi(value);
    } else if (key == "--change-every") {
      p.change_every = std::stoi(value);
    } else if (key == "--dir") {
      p.dir = value;
    } else if (key == "--only") {
      p.only = value;  // "null" or "collector": one side alone, for a profiler
    } else {
      std::fprintf(stderr, "usage: ingest_bench [--streams=N] [--reports=N] [--window=N] [--change-every=N] "
                           "[--dir=DIR] [--only=null|collector]\n");
      return 2;
    }
  }
  namespace fs = std::filesystem;
  const bool temp_dir = p.dir.empty();
  if (temp_dir) p.dir = (fs::temp_directory_path() / ("ksweep-ingest-bench-" + std::to_string(::getpid()))).string();
  fs::remove_all(p.dir);

  // The ceiling: same harness, a service that stores nothing.
  NullAgentService null_service;
  int null_port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &null_port);
  builder.RegisterService(&null_service);
  auto null_server = builder.BuildAndStart();

  server::SystemClock clock;
  server::CollectorOptions o;
  o.data_dir = p.dir;
  o.agent_listen = "127.0.0.1:0";
  o.api_listen = "127.0.0.1:0";
  o.insecure = true;  // plain text: the benchmark measures the store, not TLS
  o.agent.messages_per_second = 1e9;  // the benchmark measures the store, not the flood limit
  o.agent.message_burst = 1e9;
  o.agent.max_inflight_reports = std::max(p.window, 1);
  auto collector = server::Collector::Start(o, &clock, NullLogger());
  if (!collector.ok()) {
    std::fprintf(stderr, "collector: %s\n", collector.status().ToString().c_str());
    return 1;
  }

  int errors = 0;
  const std::string null_address = "127.0.0.1:" + std::to_string(null_port);
  // Alternate, twice each, so neither side gets a warmer machine.
  double null_best = 0, real_best = 0, null_cpu = 1e9, real_cpu = 1e9;
  for (int round = 0; round < 2; ++round) {
    double cpu = 0;
    if (p.only != "collector") {
      null_best = std::max(null_best, Drive(null_address, p, "null" + std::to_string(round), &errors, &cpu));
      null_cpu = std::min(null_cpu, cpu);
    }
    if (p.only != "null") {
      real_best =
          std::max(real_best, Drive((*collector)->agent_address(), p, "real" + std::to_string(round), &errors, &cpu));
      real_cpu = std::min(real_cpu, cpu);
    }
  }
  std::printf("ingest streams=%d reports_per_stream=%d window=%d change_every=%d\n", p.streams, p.reports, p.window,
              p.change_every);
  std::printf("null_service_reports_per_s=%.0f\ncollector_reports_per_s=%.0f\nratio=%.2f\n", null_best, real_best,
              real_best / null_best);
  std::printf("null_cpu_us_per_report=%.1f\ncollector_cpu_us_per_report=%.1f\nerrors=%d\n", null_cpu, real_cpu, errors);
  (*collector)->Shutdown();
  null_server->Shutdown();
  if (temp_dir) fs::remove_all(p.dir);
  return errors == 0 ? 0 : 1;
}
