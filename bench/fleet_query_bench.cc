// Fleet query benchmark: GetSummary and filtered ListHosts pages through the real FleetService (gRPC on loopback)
// over a store of N synthetic hosts (default 1,000,000), loaded through Store::IngestBatch.
// Usage: fleet_query_bench [--hosts=1000000] [--iterations=50] [--dir=DIR (kept and reused when given)]
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "ksweep/v1/fleet.grpc.pb.h"
#include "server/collector.h"
#include "server/store/sqlite_store.h"

// GCC 12 at -O2 sees "potential null dereferences" in gRPC's inlined sync client call ops; the API rules them out.
#pragma GCC diagnostic ignored "-Wnull-dereference"

namespace {

using namespace ksweep;  // NOLINT: a benchmark's main file
namespace fs = std::filesystem;

constexpr server::Micros kBase = 1'767'225'600LL * server::kMicrosPerSecond;  // 2026-01-01

// Independent pseudo-random draws per host, so that filters combine as they would on a real fleet.
uint32_t Draw(int i, uint32_t salt) {
  uint32_t x = static_cast<uint32_t>(i) * 2654435761u ^ salt * 40503u;
  x ^= x >> 15;
  x *= 2246822519u;
  x ^= x >> 13;
  return x;
}

// Host i of the synthetic fleet: 2% running kesl, 3% klnagent64 installed, 5% remnants, the rest clean; four OS
// releases (debian 12 40%); 30% labelled prod; 55% Windows, 35% Linux, 10% macOS (drawn apart from the OS, so the
// OS cases keep their selectivity).
server::ReportIn SyntheticHost(int i, server::Micros now) {
  static const char* kOs[][2] = {{"debian", "12"}, {"debian", "11"}, {"ubuntu", "22.04"}, {"rhel", "9"},
                                 {"debian", "12"}};
  server::ReportIn in;
  char name[32];
  std::snprintf(name, sizeof name, "host-%07d", i);
  auto& facts = in.host;
  facts.set_host_id("synthetic-" + std::to_string(i));
  facts.set_hostname(name);
  const auto& os = kOs[Draw(i, 1) % 5];
  facts.mutable_os()->set_id(os[0]);
  facts.mutable_os()->set_version_id(os[1]);
  facts.mutable_os()->set_pretty_name(std::string(os[0]) + " " + os[1]);
  facts.set_kernel("6.1.0-13-amd64");
  facts.set_arch("x86_64");
  facts.set_root("/");
  if (Draw(i, 2) % 10 < 3) facts.add_labels("prod");
  const uint32_t platform = Draw(i, 5) % 100;
  facts.set_platform(platform < 55 ? v1::PLATFORM_WINDOWS : platform < 90 ? v1::PLATFORM_LINUX : v1::PLATFORM_MACOS);
  in.sequence = 1;
  auto& r = in.report;
  *r.mutable_host() = facts;
  r.set_agent_version("0.1.0");
  r.set_verdict(v1::VERDICT_CLEAN);
  const uint32_t bucket = Draw(i, 4) % 100;
  auto add = [&](const char* id, v1::ProductState state, v1::Verdict verdict) {
    auto* f = r.add_findings();
    f->set_product_id(id);
    f->set_product_name(std::string("Kaspersky ") + id);
    f->set_state(state);
    f->set_version(Draw(i, 3) % 3 == 0 ? "12.1.0.1297" : "11.4.0.0");
    auto* e = f->add_evidence();
    e->set_kind(v1::EVIDENCE_KIND_DPKG_PACKAGE);
    e->set_detail(std::string("dpkg package ") + id);
    r.set_verdict(verdict);
  };
  if (bucket < 2) {
    add("kesl", v1::PRODUCT_STATE_RUNNING, v1::VERDICT_RUNNING);
  } else if (bucket < 5) {
    add("klnagent64", v1::PRODUCT_STATE_INSTALLED, v1::VERDICT_INSTALLED);
  } else if (bucket < 10) {
    add("kesl", v1::PRODUCT_STATE_REMNANT, v1::VERDICT_REMNANT);
  }
  in.receive_time = now;
  in.agent_time = now;
  return in;
}

struct Stats {
  double median_ms, p95_ms, max_ms, cpu_median_ms;
};

double CpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// Wall time, and the CPU time of the whole process (client and server are both in it): on a shared machine the
// second says what a call costs, the first also how long it waited for a core.
Stats Measure(int iterations, const std::function<bool()>& call) {
  std::vector<double> ms;
  std::vector<double> cpu;
  call();  // warm: first touch of pages and statements
  for (int i = 0; i < iterations; ++i) {
    const double c0 = CpuMs();
    const auto t0 = std::chrono::steady_clock::now();
    if (!call()) return {-1, -1, -1, -1};
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    cpu.push_back(CpuMs() - c0);
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu.begin(), cpu.end());
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 95 / 100)], ms.back(), cpu[cpu.size() / 2]};
}

}  // namespace

int main(int argc, char** argv) {
  int hosts = 1'000'000;
  int iterations = 50;
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto eq = a.find('=');
    const std::string key = a.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : a.substr(eq + 1);
    if (key == "--hosts") {
      hosts = std::stoi(value);
    } else if (key == "--iterations") {
      iterations = std::stoi(value);
    } else if (key == "--dir") {
      dir = value;
    } else {
      std::fprintf(stderr, "usage: fleet_query_bench [--hosts=N] [--iterations=N] [--dir=DIR]\n");
      return 2;
    }
  }
  const bool temp_dir = dir.empty();
  if (temp_dir) dir = (fs::temp_directory_path() / ("ksweep-fleet-bench-" + std::to_string(::getpid()))).string();
  fs::create_directories(dir);
  server::SystemClock clock;

  {
    server::SqliteStoreOptions so;
    so.path = dir + "/ksweep.db";
    so.clock = &clock;
    const auto opening = std::chrono::steady_clock::now();
    auto store = server::SqliteStore::Open(so);
    // Opening an existing database runs its missing migrations: the time an upgrade takes at this size.
    std::printf("store_open_seconds=%.2f\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - opening).count());
    if (!store.ok()) {
      std::fprintf(stderr, "store: %s\n", store.status().ToString().c_str());
      return 1;
    }
    auto summary = (*store)->GetSummary();
    const int have = summary.ok() ? static_cast<int>(summary->total_hosts()) : 0;
    if (have != 0 && have != hosts) {
      std::fprintf(stderr, "%s holds %d hosts, not %d: use another --dir\n", dir.c_str(), have, hosts);
      return 2;
    }
    if (have == 0) {
      const auto t0 = std::chrono::steady_clock::now();
      constexpr int kBatch = 10'000;
      for (int first = 0; first < hosts; first += kBatch) {
        std::vector<server::ReportIn> batch;
        for (int i = first; i < std::min(hosts, first + kBatch); ++i) {
          batch.push_back(SyntheticHost(i, kBase + static_cast<server::Micros>(i) * 1000));
        }
        auto r = (*store)->IngestBatch(std::move(batch));
        if (!r.ok()) {
          std::fprintf(stderr, "ingest: %s\n", r.status().ToString().c_str());
          return 1;
        }
      }
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("loaded hosts=%d seconds=%.1f store_ingest_reports_per_s=%.0f\n", hosts, secs, hosts / secs);
    }
    (void)(*store)->Close();
  }
  std::error_code ec;
  std::printf("database_bytes=%ju\n", static_cast<uintmax_t>(fs::file_size(dir + "/ksweep.db", ec)));

  server::CollectorOptions o;
  o.data_dir = dir;
  o.agent_listen = "127.0.0.1:0";
  o.api_listen = "127.0.0.1:0";
  o.insecure = true;  // plain text: the benchmark measures the store, not TLS
  o.stale_after = 3650LL * server::kMicrosPerDay;  // the synthetic hosts must not go stale during the run
  auto collector = server::Collector::Start(o, &clock, NullLogger());
  if (!collector.ok()) {
    std::fprintf(stderr, "collector: %s\n", collector.status().ToString().c_str());
    return 1;
  }
  auto stub = v1::FleetService::NewStub(
      grpc::CreateChannel((*collector)->api_address(), grpc::InsecureChannelCredentials()));

  auto summary_call = [&] {
    grpc::ClientContext ctx;
    v1::Summary s;
    return stub->GetSummary(&ctx, v1::GetSummaryRequest(), &s).ok() && s.total_hosts() == hosts;
  };
  auto list_call = [&](const std::string& expr, v1::HostOrder order, bool second_page) {
    return [&stub, expr, order, second_page] {
      v1::ListHostsRequest req;
      req.mutable_filter()->set_expr(expr);
      req.set_order_by(order);
      req.set_page_size(100);
      v1::ListHostsResponse resp;
      {
        grpc::ClientContext ctx;
        if (!stub->ListHosts(&ctx, req, &resp).ok()) return false;
      }
      if (second_page) {
        req.set_page_token(resp.next_page_token());
        grpc::ClientContext ctx;
        if (!stub->ListHosts(&ctx, req, &resp).ok()) return false;
      }
      return true;  // an empty page is an answer too (small smoke runs)
    };
  };
  struct Case {
    const char* name;
    std::function<bool()> call;
  } cases[] = {
      {"GetSummary", summary_call},
      {"ListHosts verdict=running,installed (page 1 of 100)", list_call("verdict=running,installed",
                                                                          v1::HOST_ORDER_HOSTNAME, false)},
      {"ListHosts verdict=running,installed (pages 1+2)", list_call("verdict=running,installed",
                                                                      v1::HOST_ORDER_HOSTNAME, true)},
      {"ListHosts verdict=running os=debian label=prod", list_call("verdict=running os=debian label=prod",
                                                                     v1::HOST_ORDER_HOSTNAME, false)},
      {"ListHosts product=klnagent64 version=12.1.0.1297", list_call("product=klnagent64 version=12.1.0.1297",
                                                                       v1::HOST_ORDER_HOSTNAME, false)},
      {"ListHosts hostname=host-00123*", list_call("hostname=host-00123*", v1::HOST_ORDER_HOSTNAME, false)},
      {"ListHosts os=\"ubuntu 22.04\" by last_seen", list_call("os=\"ubuntu 22.04\"", v1::HOST_ORDER_LAST_SEEN,
                                                                false)},
      {"ListHosts (no filter) by verdict", list_call("", v1::HOST_ORDER_VERDICT, false)},
      {"ListHosts platform=macos (pages 1+2)", list_call("platform=macos", v1::HOST_ORDER_HOSTNAME, true)},
      {"ListHosts platform=windows,macos label=prod by verdict", list_call("platform=windows,macos label=prod",
                                                                            v1::HOST_ORDER_VERDICT, false)},
      {"ListHosts platform=macos verdict=running", list_call("platform=macos verdict=running",
                                                             v1::HOST_ORDER_HOSTNAME, false)},
      {"ListHosts platform=windows,macos os=debian", list_call("platform=windows,macos os=debian",
                                                               v1::HOST_ORDER_HOSTNAME, false)},
  };
  std::printf("fleet hosts=%d iterations=%d (milliseconds, client side, gRPC on loopback)\n", hosts, iterations);
  int failures = 0;
  for (const auto& c : cases) {
    const Stats s = Measure(iterations, c.call);
    if (s.median_ms < 0) ++failures;
    std::printf("  %-55s median=%7.2f p95=%7.2f max=%7.2f cpu_median=%7.2f\n", c.name, s.median_ms, s.p95_ms,
                s.max_ms, s.cpu_median_ms);
  }
  (*collector)->Shutdown();
  if (temp_dir) fs::remove_all(dir);
  return failures == 0 ? 0 : 1;
}
