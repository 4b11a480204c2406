// What the fault-injection tests stand on, beside tests/e2e/fleet_harness.h (processes, the collector, fixture roots,
// the fleet API): hosts whose one product (kesl) is installed and removed with the real dpkg while the test breaks
// things, the history checks every test ends with, and a TCP proxy between agents and the collector that forwards,
// stalls or drops connections on command.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <atomic>
#include <optional>
#include <tuple>
#include <random>
#include <sstream>

#include "agent/daemon/state_store.h"
#include "tests/e2e/fleet_harness.h"

namespace ksweep::chaos_test {

using namespace fleet_test;  // NOLINT: the e2e harness is this harness's vocabulary

// Converging after chaos waits out the agents' reconnect backoff, which grows with every failed attempt (1 s x1.6,
// up to 120 s): a bound on a hang, not an expectation.
constexpr std::chrono::milliseconds kConvergeDeadline = 150s;

// A number from the agent's state file ("sequence N" issued, "acked M" acknowledged); 0 when there is none yet.
inline uint64_t StateValue(const std::string& state_dir, const std::string& key) {
  std::istringstream in(ReadOrEmpty(state_dir + "/state"));
  const std::string prefix = key + " ";
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) return std::strtoull(line.c_str() + prefix.size(), nullptr, 10);
  }
  return 0;
}

inline int Count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// kesl as the agent last staged it (its spool's latest report): UNSPECIFIED when absent or not staged yet.
inline v1::ProductState StagedKesl(const std::string& state_dir, bool* broken = nullptr) {
  const std::string path = state_dir + "/last_report.pb";
  auto report = agent::DecodeSpoolRecord(ReadOrEmpty(path), agent::SpoolKind::kSnapshot, path);
  if (!report.ok()) return v1::PRODUCT_STATE_UNSPECIFIED;
  for (const auto& f : report->report().findings()) {
    if (f.product_id() == "kesl") {
      if (broken != nullptr) *broken = f.broken();
      return f.state();
    }
  }
  return v1::PRODUCT_STATE_UNSPECIFIED;
}

// One fixture host: its root, state folder and agent, and the local truth the test keeps about kesl on it.
struct ChaosHost {
  std::string name;
  std::string hostname;
  std::string root;
  std::string state_dir;
  std::string log;
  std::unique_ptr<Process> agent;
  bool installed = true;  // kesl installed (else removed, a remnant left)
  int changes = 0;        // dpkg changes made after the first report
  int agent_starts = 0;

  void StartAgentOn(const std::string& server) {
    agent = StartAgent(server, root, state_dir, log);
    ++agent_starts;
  }
  v1::ProductState Want() const { return installed ? v1::PRODUCT_STATE_INSTALLED : v1::PRODUCT_STATE_REMNANT; }
  // Whether the agent has staged (spooled) the local truth, whatever the collector is doing.
  bool Staged() const {
    bool broken = false;
    return StagedKesl(state_dir, &broken) == Want() && !broken;
  }
};

// Removes or installs kesl with the real dpkg and waits until the agent has spooled that state, so every change
// made is one the agent saw (a change undone within the agent's debounce would never be seen by anyone).
inline ::testing::AssertionResult Toggle(ChaosHost& h, const std::string& kesl_deb) {
  const ProcessResult r = h.installed ? Dpkg(h.root, {"-r", "kesl"}) : Dpkg(h.root, {"-i", kesl_deb});
  if (!r.Exited(0)) return ::testing::AssertionFailure() << "dpkg on " << h.root << ": " << r.Describe();
  h.installed = !h.installed;
  ++h.changes;
  if (test::WaitFor([&] { return h.Staged(); }, kDeadline)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << h.hostname << ": the agent never spooled kesl "
                                       << v1::ProductState_Name(h.Want()) << "\n" << Tail(ReadOrEmpty(h.log), 3000);
}

// What the history of one host says about kesl, against what the test did to it.
struct HistoryCheck {
  int kesl_events = 0;   // events about kesl
  int duplicates = 0;    // a (sequence, product, type) seen more than once
  std::string problem;   // a broken chain (an event whose old state is not the previous new state), or empty
};

inline HistoryCheck CheckHistory(const std::vector<v1::Event>& events, const ChaosHost& h) {
  HistoryCheck c;
  std::map<std::tuple<uint64_t, std::string, int>, int> seen;
  v1::ProductState state = v1::PRODUCT_STATE_UNSPECIFIED;
  for (const auto& e : events) {
    if (e.hostname() != h.hostname) continue;
    if (++seen[{e.sequence(), e.product_id(), e.type()}] > 1) ++c.duplicates;
    if (e.product_id() != "kesl") continue;
    ++c.kesl_events;
    if (e.old_state() != state && c.problem.empty()) {
      c.problem = "event " + EventLine(e) + " does not follow " + v1::ProductState_Name(state);
    }
    state = e.new_state();
  }
  if (c.problem.empty() && state != h.Want()) {
    c.problem = "history ends at " + v1::ProductState_Name(state) + ", the host has " +
                v1::ProductState_Name(h.Want());
  }
  return c;
}

// Every change exactly once: the first report's DETECTED, then one event per dpkg change, chained.
inline bool Converged(const std::vector<v1::Event>& events, const ChaosHost& h) {
  const HistoryCheck c = CheckHistory(events, h);
  return c.problem.empty() && c.duplicates == 0 && c.kesl_events == 1 + h.changes &&
         StateValue(h.state_dir, "acked") == StateValue(h.state_dir, "sequence");
}

// The figures docs/RELIABILITY.md reports, printed by each test on one line.
struct Figures {
  int changes = 0;
  int delivered = 0;  // kesl events stored beyond each host's first DETECTED
  int duplicates = 0;
  double converge_s = 0;
  std::string extra;

  std::string Line(const std::string& test) const {
    std::ostringstream out;
    out << "RELIABILITY test=" << test << " changes=" << changes << " delivered=" << delivered
        << " lost=" << (changes - delivered) << " duplicates=" << duplicates << " converge_s=" << converge_s
        << (extra.empty() ? "" : " " + extra);
    return out.str();
  }
};

// A TCP proxy on 127.0.0.1 between agents and the collector, on its own thread. kForward passes bytes both ways;
// kStall holds them (connections stay open, nothing moves, as in a partition the kernel does not see); kDrop closes
// every connection and closes new ones at once (a collector host that went away).
class ChaosProxy {
 public:
  enum class Mode { kForward, kStall, kDrop };

  explicit ChaosProxy(const std::string& upstream)
      : acceptor_(io_, boost::asio::ip::tcp::endpoint(boost::asio::ip::address_v4::loopback(), 0)) {
    const auto colon = upstream.rfind(':');
    upstream_ = boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address(upstream.substr(0, colon)),
                                               static_cast<uint16_t>(std::stoi(upstream.substr(colon + 1))));
    Accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~ChaosProxy() {
    boost::asio::post(io_, [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      CloseAll();
    });
    work_.reset();
    io_.stop();
    thread_.join();
  }
  ChaosProxy(const ChaosProxy&) = delete;
  ChaosProxy& operator=(const ChaosProxy&) = delete;

  std::string address() const { return "127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()); }
  int accepted() const { return accepted_; }
  int dropped() const { return dropped_; }

  void SetMode(Mode mode) {
    boost::asio::post(io_, [this, mode] {
      mode_ = mode;
      if (mode == Mode::kDrop) CloseAll();
      if (mode != Mode::kStall) {
        auto parked = std::move(parked_);
        parked_.clear();
        for (auto& resume : parked) resume();
      }
    });
  }

 private:
  struct Session : std::enable_shared_from_this<Session> {
    Session(ChaosProxy* p, boost::asio::ip::tcp::socket client)
        : proxy(p), sockets{std::move(client), boost::asio::ip::tcp::socket(p->io_)} {}

    void Start() {
      auto self = shared_from_this();
      sockets[1].async_connect(proxy->upstream_, [self](const boost::system::error_code& ec) {
        if (ec) return self->Close();
        self->Read(0);
        self->Read(1);
      });
    }
    void Read(int from) {
      auto self = shared_from_this();
      sockets[from].async_read_some(boost::asio::buffer(buffers[from]),
                                    [self, from](const boost::system::error_code& ec, size_t n) {
                                      if (ec) return self->Close();
                                      self->Forward(from, n);
                                    });
    }
    void Forward(int from, size_t n) {
      if (closed) return;
      auto self = shared_from_this();
      if (proxy->mode_ == Mode::kStall) {
        proxy->parked_.push_back([self, from, n] { self->Forward(from, n); });
        return;
      }
      boost::asio::async_write(sockets[1 - from], boost::asio::buffer(buffers[from].data(), n),
                               [self, from](const boost::system::error_code& ec, size_t) {
                                 if (ec) return self->Close();
                                 self->Read(from);
                               });
    }
    void Close() {
      if (closed) return;
      closed = true;
      boost::system::error_code ignored;
      sockets[0].close(ignored);
      sockets[1].close(ignored);
    }

    ChaosProxy* proxy;
    std::array<boost::asio::ip::tcp::socket, 2> sockets;  // 0: the agent, 1: the collector
    std::array<std::array<char, 16384>, 2> buffers;
    bool closed = false;
  };

  void Accept() {
    acceptor_.async_accept([this](const boost::system::error_code& ec, boost::asio::ip::tcp::socket socket) {
      if (ec) return;  // closed
      if (mode_ == Mode::kDrop) {
        boost::system::error_code ignored;
        socket.close(ignored);
        ++dropped_;
      } else {
        ++accepted_;
        auto session = std::make_shared<Session>(this, std::move(socket));
        sessions_.push_back(session);
        session->Start();
      }
      Accept();
    });
  }
  void CloseAll() {
    for (auto& weak : sessions_) {
      if (auto s = weak.lock(); s && !s->closed) {
        s->Close();
        ++dropped_;
      }
    }
    sessions_.clear();
  }

  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_{io_.get_executor()};
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::ip::tcp::endpoint upstream_;
  std::thread thread_;
  // Touched on the proxy thread only, except the counters read by the test.
  Mode mode_ = Mode::kForward;
  std::vector<std::weak_ptr<Session>> sessions_;
  std::vector<std::function<void()>> parked_;
  std::atomic<int> accepted_{0};
  std::atomic<int> dropped_{0};
};

}  // namespace ksweep::chaos_test
