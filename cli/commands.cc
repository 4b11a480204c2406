#include "cli/commands.h"

#include <algorithm>

#include "cli/times.h"
#include "cli/views.h"

namespace ksweep::cli {
namespace {

// Waits between attempts to resume a lost --follow stream: doubling from the first to the last.
constexpr std::chrono::milliseconds kFollowRetryMin{250};
constexpr std::chrono::milliseconds kFollowRetryMax{5000};
constexpr std::chrono::milliseconds kFollowPollSlice{100};

// Follows page tokens until the last page or `limit` rows (0: no limit). Each page is asked for no more than the
// rows still wanted, so when the limit cuts the listing the returned next_page_token resumes exactly after it.
template <typename Request, typename Response, typename Fetch, typename Rows>
Result<Response> FetchPages(Request request, int64_t limit, Fetch fetch, Rows rows, bool* truncated) {
  Response all;
  const int32_t page_size = request.page_size();
  *truncated = false;
  while (true) {
    if (limit > 0) {
      const int64_t remaining = limit - rows(&all)->size();
      request.set_page_size(static_cast<int32_t>(std::min<int64_t>(page_size, remaining)));
    }
    Result<Response> page = fetch(request);
    if (!page.ok()) return page.status();
    for (auto& row : *rows(&*page)) *rows(&all)->Add() = std::move(row);
    if constexpr (requires { page->total_size(); }) all.set_total_size(page->total_size());
    const std::string& token = page->next_page_token();
    if (token.empty()) {
      all.clear_next_page_token();
      return all;
    }
    if (limit > 0 && rows(&all)->size() >= limit) {
      all.set_next_page_token(token);
      *truncated = true;
      return all;
    }
    if (rows(&*page)->empty()) {
      return Status::Internal("the collector sent an empty page with a next page token; stopping to avoid a loop");
    }
    request.set_page_token(token);
  }
}

int Summary(FleetClient& client, const Invocation& inv, std::ostream& out, std::ostream& err) {
  auto summary = client.GetSummary();
  if (!summary.ok()) return Fail(summary.status(), err);
  out << FormatSummary(*summary, inv.global.output);
  return kExitOk;
}

Result<v1::ListHostsResponse> ListAllHosts(FleetClient& client, const HostsCommand& cmd, bool* truncated) {
  return FetchPages<v1::ListHostsRequest, v1::ListHostsResponse>(
      cmd.request, cmd.limit, [&client](const v1::ListHostsRequest& r) { return client.ListHosts(r); },
      [](auto* response) { return response->mutable_hosts(); }, truncated);
}

Result<v1::ListEventsResponse> ListAllEvents(FleetClient& client, const EventsCommand& cmd, bool* truncated) {
  return FetchPages<v1::ListEventsRequest, v1::ListEventsResponse>(
      cmd.request, cmd.limit, [&client](const v1::ListEventsRequest& r) { return client.ListEvents(r); },
      [](auto* response) { return response->mutable_events(); }, truncated);
}

int Hosts(FleetClient& client, const Invocation& inv, std::ostream& out, std::ostream& err) {
  bool truncated = false;
  auto hosts = ListAllHosts(client, inv.hosts, &truncated);
  if (!hosts.ok()) return Fail(hosts.status(), err);
  out << FormatHosts(*hosts, inv.global.output);
  if (truncated) {
    err << "ksweep: showing the first " << hosts->hosts_size() << " of " << hosts->total_size()
        << " hosts; --limit N or --all shows more, --page-token " << hosts->next_page_token()
        << " resumes after these\n";
  }
  return kExitOk;
}

int Host(FleetClient& client, const Invocation& inv, std::ostream& out, std::ostream& err) {
  auto host = client.GetHost(inv.host);
  if (!host.ok()) return Fail(host.status(), err);
  out << FormatHost(*host, inv.global.output);
  return kExitOk;
}

int Trend(FleetClient& client, const Invocation& inv, std::ostream& out, std::ostream& err) {
  auto trend = client.GetTrend(inv.trend);
  if (!trend.ok()) return Fail(trend.status(), err);
  out << FormatTrend(*trend, inv.global.output);
  return kExitOk;
}

int Scan(FleetClient& client, const Invocation& inv, std::ostream& out, std::ostream& err) {
  auto scan = client.RequestScan(inv.scan);
  if (!scan.ok()) return Fail(scan.status(), err);
  out << FormatScan(*scan, inv.global.output);
  return kExitOk;
}

int TokensCreate(FleetClient& client, const Invocation& inv, std::ostream& out, std::ostream& err) {
  auto r = client.CreateToken(inv.token_create);
  if (!r.ok()) return Fail(r.status(), err);
  out << FormatNewToken(*r, inv.global.output);
  if (inv.global.output == OutputFormat::kTable) {
    err << "ksweep: token " << r->token().name() << " (id " << r->token().id() << ", "
        << (r->token().role() == v1::TOKEN_ROLE_ADMIN ? "admin" : "viewer")
        << ") created; it is shown this once: keep it in KSWEEP_TOKEN or a 0600 file for --token-file\n";
  }
  return kExitOk;
}

int TokensList(FleetClient& client, const Invocation& inv, std::ostream& out, std::ostream& err) {
  auto r = client.ListTokens();
  if (!r.ok()) return Fail(r.status(), err);
  out << FormatTokens(*r, inv.global.output);
  return kExitOk;
}

int TokensRevoke(FleetClient& client, const Invocation& inv, std::ostream& out, std::ostream& err) {
  auto r = client.RevokeToken(inv.token_revoke);
  if (!r.ok()) return Fail(r.status(), err);
  out << FormatRevokedToken(*r, inv.global.output);
  return kExitOk;
}

int HostsRevoke(FleetClient& client, const Invocation& inv, std::ostream& out, std::ostream& err) {
  auto r = client.RevokeHost(inv.host_revoke);
  if (!r.ok()) return Fail(r.status(), err);
  out << FormatHostRevoke(*r, inv.global.output);
  return kExitOk;
}

int Events(FleetClient& client, const Invocation& inv, Interrupts* interrupts, std::ostream& out,
           std::ostream& err) {
  const EventsCommand& cmd = inv.events;
  const OutputFormat format = inv.global.output;
  int64_t after_id = cmd.after_id;
  google::protobuf::Timestamp since = cmd.request.since();
  if (cmd.list_first) {
    bool truncated = false;
    auto events = ListAllEvents(client, cmd, &truncated);
    if (!events.ok()) return Fail(events.status(), err);
    if (!cmd.follow) {
      out << FormatEvents(*events, format);
      if (truncated) {
        err << "ksweep: showing the first " << events->events_size()
            << " events; --limit N or --all shows more, --page-token " << events->next_page_token()
            << " resumes after these\n";
      }
      return kExitOk;
    }
    out << EventStreamHeader(format);
    for (const auto& e : events->events()) {
      out << FormatEventLine(e, format);
      after_id = std::max(after_id, e.id());
    }
    out.flush();
  } else {
    // One call first, so a wrong address fails now with exit 4 rather than being retried below as a lost stream;
    // and the collector's clock then marks where this follow starts (see the catch-up below).
    auto summary = client.GetSummary();
    if (!summary.ok()) return Fail(summary.status(), err);
    since = summary->as_of();
    out << EventStreamHeader(format) << std::flush;
  }

  v1::WatchEventsRequest request;
  request.set_host(cmd.request.host());
  *request.mutable_types() = cmd.request.types();
  // A lost stream (collector restarted, network blip) is resumed after the last event printed: the collector
  // replays what came in meanwhile, so nothing is missed or printed twice. Only an interrupt ends the follow.
  auto delay = kFollowRetryMin;
  bool lost = false;
  while (true) {
    if (lost && after_id == 0) {
      // Nothing printed yet, so there is no id to resume after: list what came in since the follow started.
      v1::ListEventsRequest catch_up = cmd.request;
      *catch_up.mutable_since() = since;
      catch_up.clear_page_token();
      bool truncated = false;
      auto missed = FetchPages<v1::ListEventsRequest, v1::ListEventsResponse>(
          catch_up, 0, [&client](const v1::ListEventsRequest& r) { return client.ListEvents(r); },
          [](auto* response) { return response->mutable_events(); }, &truncated);
      if (missed.ok()) {
        err << "ksweep: following again\n";
        lost = false;
        for (const auto& e : missed->events()) {
          out << FormatEventLine(e, format);
          after_id = std::max(after_id, e.id());
        }
        out.flush();
      }
    }
    request.set_after_id(after_id);
    grpc::ClientContext context;
    if (interrupts != nullptr) interrupts->OnInterrupt([&context] { context.TryCancel(); });
    int64_t lag_resume_after_id = -1;
    Status status = client.WatchEvents(
        request, &context,
        [&](const v1::Event& e) {
          out << FormatEventLine(e, format) << std::flush;
          after_id = std::max(after_id, e.id());
          if (lost) {
            err << "ksweep: following again\n";
            lost = false;
          }
          delay = kFollowRetryMin;
          return static_cast<bool>(out);
        },
        &lag_resume_after_id);
    if (interrupts != nullptr) interrupts->OnInterrupt(nullptr);
    if (interrupts != nullptr && interrupts->interrupted()) return kExitOk;
    if (!out) return kExitOk;  // the reader went away (a closed pipe): nothing left to do
    if (status.ok()) return kExitOk;
    if (lag_resume_after_id >= 0) {
      // Cut off for reading too slowly (e.g. a slow consumer on the pipe): nothing is wrong with the collector, so
      // resume at once. From our own last printed id, not the trailer's: everything received was printed, and the
      // collector replays the rest from its store.
      err << "ksweep: the collector cut this follower off for falling behind (" << status.message()
          << "); resuming after event " << after_id << "\n";
      // Nothing printed yet: no id to resume after, so the catch-up above lists what came in since the start.
      lost = lost || after_id == 0;
      continue;
    }
    if (ExitCodeFor(status) != kExitUnreachable || interrupts == nullptr) return Fail(status, err);
    if (!lost) {
      err << "ksweep: lost the event stream (" << status.message() << "); retrying, resuming after event "
          << after_id << "\n";
      lost = true;
    }
    // A pause first (a collector that ends every stream at once must not be hammered), then up to `delay` for a
    // new connection, in slices so an interrupt is still seen at once.
    if (!interrupts->SleepUnlessInterrupted(kFollowRetryMin)) return kExitOk;
    client.RetryConnectionNow();
    const auto until = std::chrono::steady_clock::now() + delay;
    while (!client.WaitForConnection(kFollowPollSlice)) {
      if (interrupts->interrupted()) return kExitOk;
      if (std::chrono::steady_clock::now() >= until) break;
    }
    if (interrupts->interrupted()) return kExitOk;
    delay = std::min(delay * 2, kFollowRetryMax);
  }
}

}  // namespace

int Fail(const Status& status, std::ostream& err) {
  err << "ksweep: " << status.message() << "\n";
  return ExitCodeFor(status);
}

int RunCommand(const Invocation& inv, FleetClient& client, Interrupts* interrupts, std::ostream& out,
               std::ostream& err) {
  switch (inv.command) {
    case Command::kSummary: return Summary(client, inv, out, err);
    case Command::kHosts: return Hosts(client, inv, out, err);
    case Command::kHost: return Host(client, inv, out, err);
    case Command::kEvents: return Events(client, inv, interrupts, out, err);
    case Command::kTrend: return Trend(client, inv, out, err);
    case Command::kScan: return Scan(client, inv, out, err);
    case Command::kTokensCreate: return TokensCreate(client, inv, out, err);
    case Command::kTokensList: return TokensList(client, inv, out, err);
    case Command::kTokensRevoke: return TokensRevoke(client, inv, out, err);
    case Command::kHostsRevoke: return HostsRevoke(client, inv, out, err);
    case Command::kHelp:
    case Command::kVersion: break;
  }
  return Fail(Status::Internal("command has no runner"), err);
}

}  // namespace ksweep::cli
