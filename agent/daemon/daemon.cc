#include "agent/daemon/daemon.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include "agent/daemon/backoff.h"
#include "agent/daemon/collector_stream.h"
#include "agent/daemon/credentials.h"
#include "agent/daemon/process_watcher.h"
#include "agent/daemon/report_compare.h"
#include "agent/daemon/rules_store.h"
#include "agent/daemon/state_store.h"
#include "agent/daemon/watcher.h"
#include "agent/host_facts.h"
#include "agent/root.h"
#include "agent/scan.h"
#include "common/protocol.h"
#include "common/rules.h"

namespace ksweep::agent {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Keepalive pings find a collector that vanished without closing the connection (power loss, a partition) within
// 80 s. The collector must accept pings this often (GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS at most
// 60 s; ksweep-collector allows 10 s): gRPC's default of 5 minutes would close the stream with ENHANCE_YOUR_CALM.
constexpr int kKeepaliveTimeMs = 60 * 1000;
constexpr int kKeepaliveTimeoutMs = 20 * 1000;
// What the collector may send at once: a rule set is the largest message (the built-in one is a few kB).
constexpr int kMaxReceiveMessageBytes = static_cast<int>(kAgentMaxReceiveBytes);
// Bounds on the heartbeat interval a collector may set.
constexpr seconds kMinHeartbeat{1};
constexpr seconds kMaxHeartbeat{24 * 3600};
// A stream that stayed up this long after its Welcome was healthy: the next reconnect starts again from the initial
// delay. Resetting on the Welcome itself would let a collector that refuses every report (a report over its limits)
// be asked again every second, forever.
constexpr seconds kStableStream{30};
// The periodic scan runs at interval * [1 - x, 1 + x], so agents started together drift apart.
constexpr double kScanJitter = 0.1;
// Scans yield the CPU to the host's real work.
constexpr int kScanNice = 10;

// Not TimeUtil::GetCurrentTime(): protobuf 3.21's has whole seconds only, and the agent time of a change is when it
// was first seen.
google::protobuf::Timestamp Now() {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

Status CheckOptions(const DaemonOptions& options) {
  const auto colon = options.server.rfind(':');
  if (options.server.empty() || colon == std::string::npos || colon == 0) {
    return Status::InvalidArgument("--server '" + options.server + "': expected HOST:PORT");
  }
  const std::string_view port_text = std::string_view(options.server).substr(colon + 1);
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535) {
    return Status::InvalidArgument("--server '" + options.server + "': port must be a number from 1 to 65535");
  }
  if (options.state_dir.empty()) return Status::InvalidArgument("--state-dir: missing");
  if (options.rules == nullptr) return Status::InvalidArgument("rules: none given");
  if (options.scan_interval.count() <= 0) return Status::InvalidArgument("scan interval: must be positive");
  if (options.debounce.count() < 0) return Status::InvalidArgument("debounce: must not be negative");
  if (options.process_poll.count() < 0) return Status::InvalidArgument("process poll: must not be negative");
  if (options.heartbeat_interval < kMinHeartbeat || options.heartbeat_interval > kMaxHeartbeat) {
    return Status::InvalidArgument("heartbeat interval: must be from 1 s to 24 h");
  }
  if (options.welcome_timeout.count() <= 0) return Status::InvalidArgument("welcome timeout: must be positive");
  if (options.watchdog.enabled && options.watchdog.interval.count() <= 0) {
    return Status::InvalidArgument("watchdog interval: must be positive");
  }
  return Status::Ok();
}

std::shared_ptr<grpc::Channel> MakeChannel(const DaemonOptions& options, const LoggerPtr& log) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveTimeMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetMaxReceiveMessageSize(kMaxReceiveMessageBytes);
  // A fresh channel per attempt must not inherit a shared subchannel still waiting out gRPC's own reconnect backoff:
  // the daemon's backoff alone decides when to try again.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  args.SetString(GRPC_ARG_PRIMARY_USER_AGENT_STRING, "ksweep-agent/" KSWEEP_VERSION);
  // Credentials are read per attempt: a renewed certificate (credentials.h) is used from the next connection on.
  return grpc::CreateCustomChannel(options.server,
                                   DaemonChannelCredentials(options.state_dir, options.insecure, log), args);
}

// The event loop's state. Every member is touched on the loop thread only, except where a scan runs on scan_pool_.
class Daemon {
 public:
  Daemon(asio::io_context& io, const DaemonOptions& options, const ProbeRegistry& registry, LoggerPtr log,
         std::unique_ptr<StateStore> store, std::unique_ptr<FileWatcher> watcher)
      : io_(io),
        options_(options),
        registry_(registry),
        log_(std::move(log)),
        root_(options.root),
        store_(std::move(store)),
        watcher_(std::move(watcher)),
        rules_(std::make_shared<const v1::RuleSet>(*options.rules)),
        watch_targets_(WatchTargetsFor(*rules_, root_.platform())),
        rng_(std::random_device{}()),
        heartbeat_interval_(options.heartbeat_interval),
        signals_(io),
        scan_timer_(io),
        debounce_timer_(io),
        heartbeat_timer_(io),
        reconnect_timer_(io),
        welcome_timer_(io),
        watchdog_timer_(io),
        watchdog_(options.watchdog, SampleSelf()),
        process_watcher_(io, std::string(kProcDir), options.process_poll, [this] { return rules_; }, log_) {}

  void Start() {
    boost::system::error_code ec;
    signals_.add(SIGTERM, ec);
    signals_.add(SIGINT, ec);
    signals_.async_wait([this](const boost::system::error_code& error, int signal) {
      if (error) return;
      log_->info("event=signal signal={}", signal);
      Stop();
    });
    log_->info("event=started server={} root={} state_dir={} sequence={} scan_interval_s={} debounce_ms={} "
               "watching={} watchdog_max_rss_bytes={} watchdog_max_cpu_percent={} watchdog_interval_s={}",
               options_.server, options_.root, store_->dir(), store_->last_sequence(), options_.scan_interval.count(),
               options_.debounce.count(), watcher_ ? "yes" : "no", options_.watchdog.max_rss_bytes,
               options_.watchdog.max_cpu_percent,
               options_.watchdog.enabled ? options_.watchdog.interval.count() : 0);
    if (watcher_) watcher_->Start([this](const std::string& path) { OnFilesChanged(path); });
    // Before the start scan reads /proc: a process present now is seen by it, a later start or stop by the poll.
    if (root_.live() && options_.process_poll.count() > 0) {
      process_watcher_.Start([this](const std::string& what) { OnProcessesChanged(what); });
    }
    RequestScan("start");
    Connect();
    if (options_.watchdog.enabled) ArmWatchdog();
  }

 private:
  // Shutdown: stop every timer and the watcher, cancel the stream; io.run() returns once the stream's OnDone has
  // been handled (stream_guard_) and nothing else is pending.
  void Stop() {
    if (stopping_) return;
    stopping_ = true;
    log_->info("event=stopping");
    boost::system::error_code ignored;
    signals_.cancel(ignored);
    scan_timer_.cancel();
    debounce_timer_.cancel();
    heartbeat_timer_.cancel();
    reconnect_timer_.cancel();
    welcome_timer_.cancel();
    watchdog_timer_.cancel();
    if (watcher_) watcher_->Close();
    process_watcher_.Close();
    if (stream_) stream_->Cancel();
  }

  // --- Scanning ------------------------------------------------------------------------------------------------

  void RequestScan(std::string reason) {
    if (stopping_) return;
    if (scanning_) {
      rescan_reason_ = std::move(reason);  // one more scan after this one covers every request made meanwhile
      return;
    }
    StartScan(std::move(reason));
  }

  void StartScan(std::string reason) {
    scanning_ = true;
    scan_timer_.cancel();
    // Watches are placed before the scan reads anything: a change after this point wakes the next scan.
    if (watcher_) watcher_->Arm(root_, watch_targets_);
    ScanOptions scan_options;
    scan_options.root = options_.root;
    scan_options.command_timeout = options_.command_timeout;
    asio::post(scan_pool_, [this, scan_options, rules = rules_, reason = std::move(reason)]() mutable {
      // This worker thread only (a Linux thread id is a PRIO_PROCESS target); commands a probe runs inherit it.
      ::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), kScanNice);
      const auto started = std::chrono::steady_clock::now();
      Result<v1::HostReport> result = Status::Internal("scan did not run");
      try {
        result = Scan(scan_options, *rules, registry_, log_);
      } catch (const std::exception& e) {  // never let one cross the thread
        result = Status::Internal(std::string("scan threw: ") + e.what());
      }
      const auto took = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started);
      asio::post(io_, [this, result = std::move(result), took, reason = std::move(reason)]() mutable {
        OnScanDone(std::move(result), took, reason);
      });
    });
  }

  void OnScanDone(Result<v1::HostReport> result, milliseconds took, const std::string& reason) {
    scanning_ = false;
    if (stopping_) return;
    if (!result.ok()) {
      log_->warn("event=scan_failed reason={} took_ms={} error=\"{}\"", reason, took.count(), result.status().message());
    } else {
      const bool changed = !store_->latest() || !SameContent(store_->latest()->report(), *result);
      log_->info("event=scan_done reason={} took_ms={} verdict={} findings={} changed={}", reason, took.count(),
                 v1::Verdict_Name(result->verdict()), result->findings_size(), changed);
      if (changed) StageAndSend(*result);
    }
    if (rescan_reason_) {
      std::string next = std::move(*rescan_reason_);
      rescan_reason_.reset();
      StartScan(std::move(next));
    } else {
      ArmScanTimer();
    }
  }

  void ArmScanTimer() {
    std::uniform_real_distribution<double> spread(1.0 - kScanJitter, 1.0 + kScanJitter);
    const auto delay = milliseconds(
        static_cast<int64_t>(static_cast<double>(milliseconds(options_.scan_interval).count()) * spread(rng_)));
    scan_timer_.expires_after(delay);
    scan_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) RequestScan("interval");
    });
  }

  // Events come in bursts (a package manager touches many files): the first arms the timer, the rest ride along.
  void OnFilesChanged(const std::string& path) {
    if (stopping_ || debounce_armed_) return;
    log_->info("event=files_changed path={} rescan_in_ms={}", path, options_.debounce.count());
    ArmDebounce("files_changed");
  }

  // Shares the file events' debounce: a package manager starting the service it installs is one rescan, not two.
  void OnProcessesChanged(const std::string& what) {
    if (stopping_ || debounce_armed_) return;
    log_->info("event=processes_changed what=\"{}\" rescan_in_ms={}", what, options_.debounce.count());
    ArmDebounce("processes_changed");
  }

  void ArmDebounce(const char* reason) {
    debounce_armed_ = true;
    debounce_timer_.expires_after(options_.debounce);
    debounce_timer_.async_wait([this, reason](const boost::system::error_code& ec) {
      debounce_armed_ = false;
      if (!ec) RequestScan(reason);
    });
  }

  // --- Watchdog -------------------------------------------------------------------------------------------------

  void ArmWatchdog() {
    watchdog_timer_.expires_after(options_.watchdog.interval);
    watchdog_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopping_) return;
      const ResourceSample now = SampleSelf();
      const std::string why = watchdog_.Next(now);
      log_->debug("event=watchdog_sample rss_bytes={} cpu_percent={:.2f}", now.rss_bytes,
                  watchdog_.last_cpu_percent());
      if (!why.empty()) {
        // Everything worth keeping is already on disk (the spool is crash-safe), and a graceful stop would wait for
        // the very scan that may be running away: exit now, let the supervisor start a fresh agent.
        log_->critical("event=watchdog_exit reason=\"{}\" exit_code={} note=\"over a footprint limit; systemd "
                       "(Restart=on-failure) starts a fresh agent\"",
                       why, kExitWatchdog);
        log_->flush();
        std::_Exit(kExitWatchdog);
      }
      ArmWatchdog();
    });
  }

  // --- Reports --------------------------------------------------------------------------------------------------

  void StageAndSend(const v1::HostReport& report) {
    auto staged = store_->Stage(report, Now());
    if (!staged.ok()) {
      // Without the number on disk a restart could reuse it: better not to send at all.
      log_->error("event=stage_failed error=\"{}\"", staged.status().message());
      return;
    }
    log_->info("event=report_staged sequence={} verdict={} findings={}", staged->sequence(),
               v1::Verdict_Name(report.verdict()), report.findings_size());
    if (welcomed_) SendReport(*staged);
  }

  void SendReport(const v1::Report& report) {
    v1::AgentMessage message;
    *message.mutable_report() = report;
    if (stream_->Send(std::move(message))) {
      log_->info("event=report_sent sequence={}", report.sequence());
    } else {
      log_->warn("event=send_failed sequence={} note=\"the stream is closing; sent again after reconnecting\"",
                 report.sequence());
    }
  }

  // --- Connection -----------------------------------------------------------------------------------------------

  void Connect() {
    if (stopping_) return;
    const uint64_t attempt = ++attempt_;
    welcomed_ = false;
    v1::AgentMessage hello;
    std::vector<std::string> warnings;
    *hello.mutable_hello()->mutable_host() = ReadHostFacts(root_, &warnings);
    hello.mutable_hello()->set_agent_version(KSWEEP_VERSION);
    hello.mutable_hello()->set_rules_version(rules_->version());
    *hello.mutable_hello()->mutable_agent_time() = Now();
    for (const auto& warning : warnings) log_->debug("event=host_facts_warning warning=\"{}\"", warning);

    log_->info("event=connecting server={} attempt={}", options_.server, attempt);
    stream_guard_.emplace(io_.get_executor());
    stream_ = CollectorStream::Start(
        MakeChannel(options_, log_), io_.get_executor(), std::move(hello),
        [this, attempt](v1::CollectorMessage message) {
          if (attempt == attempt_ && stream_) OnMessage(std::move(message));
        },
        [this, attempt](const grpc::Status& status) { OnStreamDone(attempt, status); });

    welcome_timer_.expires_after(options_.welcome_timeout);
    welcome_timer_.async_wait([this, attempt](const boost::system::error_code& ec) {
      if (ec || attempt != attempt_ || welcomed_ || !stream_) return;
      log_->warn("event=welcome_timeout timeout_s={}", options_.welcome_timeout.count());
      stream_->Cancel();
    });
  }

  void OnStreamDone(uint64_t attempt, const grpc::Status& status) {
    if (attempt != attempt_) return;
    const bool was_welcomed = welcomed_;
    const auto lived = std::chrono::steady_clock::now() - welcomed_at_;
    stream_.reset();
    welcomed_ = false;
    heartbeat_timer_.cancel();
    welcome_timer_.cancel();
    stream_guard_.reset();
    if (stopping_) {
      log_->info("event=disconnected reason=shutdown");
      return;
    }
    log_->warn("event=disconnected code={} message=\"{}\" was_welcomed={}", static_cast<int>(status.error_code()),
               status.error_message(), was_welcomed);
    if (was_welcomed && lived >= kStableStream) backoff_.Reset();
    const milliseconds delay = backoff_.Next();
    log_->info("event=reconnect_scheduled retry_in_ms={}", delay.count());
    reconnect_timer_.expires_after(delay);
    reconnect_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) Connect();
    });
  }

  void OnMessage(v1::CollectorMessage message) {
    switch (message.message_case()) {
      case v1::CollectorMessage::kWelcome:
        OnWelcome(message.welcome());
        break;
      case v1::CollectorMessage::kAck:
        if (Status status = store_->Ack(message.ack().sequence()); !status.ok()) {
          log_->warn("event=ack_refused error=\"{}\"", status.message());
        } else {
          log_->debug("event=acked sequence={} duplicate={}", message.ack().sequence(), message.ack().duplicate());
        }
        break;
      case v1::CollectorMessage::kScanNow:
        log_->info("event=scan_now reason=\"{}\"", message.scan_now().reason());
        RequestScan("scan_now");
        break;
      case v1::CollectorMessage::kRules:
        OnRules(message.rules());
        break;
      case v1::CollectorMessage::kHeartbeat:
        heartbeat_interval_ = ClampHeartbeat(message.heartbeat().seconds());
        log_->info("event=heartbeat_interval seconds={}", heartbeat_interval_.count());
        if (welcomed_) ArmHeartbeat();
        break;
      case v1::CollectorMessage::MESSAGE_NOT_SET:
        log_->warn("event=unknown_message note=\"empty or from a newer collector; ignored\"");
        break;
    }
  }

  void OnWelcome(const v1::Welcome& welcome) {
    if (welcomed_) {
      log_->warn("event=second_welcome_ignored");
      return;
    }
    welcomed_ = true;
    welcome_timer_.cancel();
    welcomed_at_ = std::chrono::steady_clock::now();
    heartbeat_interval_ = ClampHeartbeat(welcome.heartbeat_interval_seconds());
    const uint64_t stored = welcome.last_stored_sequence();
    log_->info("event=welcomed last_stored_sequence={} local_sequence={} heartbeat_s={}", stored,
               store_->last_sequence(), heartbeat_interval_.count());
    if (stored > store_->last_sequence()) {
      // The collector remembers more than this agent does (state folder lost or restored, or another host with the
      // same machine id): never issue a number at or below its own again.
      log_->warn("event=sequence_behind_collector local_sequence={} collector_sequence={}", store_->last_sequence(),
                 stored);
      if (Status status = store_->AdvanceSequence(stored); !status.ok()) {
        log_->error("event=advance_failed error=\"{}\"", status.message());
      }
    }
    const auto& latest = store_->latest();
    if (!latest) {
      // Nothing staged yet: the first scan's report follows, numbered above `stored`.
    } else if (latest->sequence() > stored) {
      for (const auto& report : store_->ReportsAfter(stored)) SendReport(report);
    } else if (latest->sequence() < stored || latest->sequence() > store_->acked_sequence()) {
      // What the collector holds at `stored` is not known to be this snapshot: a lost state folder restarts numbers
      // that the collector already has with other content. Re-issue the snapshot above it. If it was ours after all
      // (its ack got lost), the collector merely sees the same snapshot again.
      log_->info("event=reissue_latest sequence={} collector_sequence={}", latest->sequence(), stored);
      const v1::HostReport snapshot = latest->report();
      StageAndSend(snapshot);
    }
    ArmHeartbeat();
  }

  void OnRules(const v1::RuleSet& rules) {
    if (options_.rules_pinned) {
      log_->info("event=rules_ignored version={} current_version={} note=\"--rules FILE pins this host's rules\"",
                 rules.version(), rules_->version());
      return;
    }
    if (Status status = ValidatePushedRules(rules); !status.ok()) {
      log_->error("event=rules_refused version={} current_version={} error=\"{}\"", rules.version(),
                  rules_->version(), status.message());
      return;
    }
    // Applied even when it cannot be kept: the next start then says the old version and the collector sends again.
    if (Status status = PersistRules(store_->dir(), rules); !status.ok()) {
      log_->error("event=rules_persist_failed version={} error=\"{}\"", rules.version(), status.message());
    }
    rules_ = std::make_shared<const v1::RuleSet>(rules);
    watch_targets_ = WatchTargetsFor(*rules_, root_.platform());
    log_->info("event=rules_updated version={} products={}", rules_->version(), rules_->products_size());
    RequestScan("rules_updated");
  }

  seconds ClampHeartbeat(uint32_t requested) const {
    if (requested == 0) return options_.heartbeat_interval;
    return std::clamp(seconds(requested), kMinHeartbeat, kMaxHeartbeat);
  }

  void ArmHeartbeat() {
    heartbeat_timer_.expires_after(heartbeat_interval_);
    heartbeat_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || !stream_ || !welcomed_) return;
      // A write still in flight already tells the collector this agent is alive.
      if (!stream_->Busy()) {
        v1::AgentMessage message;
        *message.mutable_heartbeat()->mutable_agent_time() = Now();
        message.mutable_heartbeat()->set_last_sequence(store_->last_sequence());
        stream_->Send(std::move(message));
        log_->debug("event=heartbeat_sent last_sequence={}", store_->last_sequence());
      }
      ArmHeartbeat();
    });
  }

  asio::io_context& io_;
  const DaemonOptions options_;
  const ProbeRegistry& registry_;
  const LoggerPtr log_;
  const Root root_;
  const std::unique_ptr<StateStore> store_;
  const std::unique_ptr<FileWatcher> watcher_;
  std::shared_ptr<const v1::RuleSet> rules_;  // replaced when the collector sends rules; scans hold a copy
  std::vector<WatchTarget> watch_targets_;
  Backoff backoff_;
  std::mt19937_64 rng_;
  seconds heartbeat_interval_;

  asio::signal_set signals_;
  asio::steady_timer scan_timer_;
  asio::steady_timer debounce_timer_;
  asio::steady_timer heartbeat_timer_;
  asio::steady_timer reconnect_timer_;
  asio::steady_timer welcome_timer_;
  asio::steady_timer watchdog_timer_;
  WatchdogCheck watchdog_;
  ProcessWatcher process_watcher_;

  bool stopping_ = false;
  bool scanning_ = false;
  std::optional<std::string> rescan_reason_;  // a scan was requested while one ran
  bool debounce_armed_ = false;

  std::shared_ptr<CollectorStream> stream_;
  uint64_t attempt_ = 0;
  bool welcomed_ = false;
  std::chrono::steady_clock::time_point welcomed_at_;
  // Keeps io.run() going until the stream's OnDone is handled, also during shutdown.
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> stream_guard_;

  // Last member: destroyed first, joining a scan still running before anything it posts back to goes away.
  asio::thread_pool scan_pool_{1};
};

}  // namespace

int RunDaemon(const DaemonOptions& options, const ProbeRegistry& registry, const LoggerPtr& log) {
  if (Status status = CheckOptions(options); !status.ok()) {
    log->error("event=bad_options error=\"{}\"", status.message());
    return 2;
  }
  if (Status status = Root(options.root).Check(); !status.ok()) {
    log->error("event=bad_root root={} error=\"{}\"", options.root, status.message());
    return 2;
  }
  auto store = StateStore::Open(options.state_dir, log);
  if (!store.ok()) {
    log->error("event=bad_state_dir error=\"{}\"", store.status().message());
    return 2;
  }
  // Rules pushed by a collector before this start win over the built-in set, not over an explicit --rules FILE.
  std::optional<v1::RuleSet> persisted;
  if (!options.rules_pinned) persisted = LoadPersistedRules((*store)->dir(), log);
  DaemonOptions effective = options;
  if (persisted) effective.rules = &*persisted;
  log->info("event=rules source={} version={} products={}",
            options.rules_pinned ? "file" : (persisted ? "state_dir" : "builtin"), effective.rules->version(),
            effective.rules->products_size());
  try {
    asio::io_context io(1);
    std::unique_ptr<FileWatcher> watcher;
    if (auto created = FileWatcher::Create(io, log); created.ok()) {
      watcher = std::move(*created);
    } else {
      log->warn("event=no_file_watching error=\"{}\" note=\"changes are seen at interval scans only\"",
                created.status().message());
    }
    Daemon daemon(io, effective, registry, log, std::move(*store), std::move(watcher));
    daemon.Start();
    io.run();
  } catch (const std::exception& e) {
    log->critical("event=daemon_failed error=\"{}\"", e.what());
    return 1;
  }
  log->info("event=stopped");
  return 0;
}

}  // namespace ksweep::agent
