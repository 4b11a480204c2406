// Each fleet response in the three output forms: a table for people, JSON and CSV for scripts.
#pragma once

#include <string>

#include "ksweep/v1/admin.pb.h"
#include "ksweep/v1/fleet.pb.h"

namespace ksweep::cli {

enum class OutputFormat { kTable, kJson, kCsv };

std::string FormatSummary(const v1::Summary& summary, OutputFormat format);
std::string FormatHosts(const v1::ListHostsResponse& response, OutputFormat format);
// Table: facts, findings with their evidence, history. CSV: one row per piece of evidence.
std::string FormatHost(const v1::Host& host, OutputFormat format);
std::string FormatEvents(const v1::ListEventsResponse& response, OutputFormat format);
std::string FormatTrend(const v1::Trend& trend, OutputFormat format);
std::string FormatScan(const v1::RequestScanResponse& response, OutputFormat format);

// Tokens: the new token (its text once, on its own line in table form), listings, a revocation.
std::string FormatNewToken(const v1::CreateTokenResponse& response, OutputFormat format);
std::string FormatTokens(const v1::ListTokensResponse& response, OutputFormat format);
std::string FormatRevokedToken(const v1::ApiToken& token, OutputFormat format);
std::string FormatHostRevoke(const v1::RevokeHostResponse& response, OutputFormat format);

// Streams (`events --follow`): the CSV header (empty for other formats), then one line per event.
std::string EventStreamHeader(OutputFormat format);
std::string FormatEventLine(const v1::Event& event, OutputFormat format);

// "INSTALLED -> REMNANT", "12.1 -> 12.2", "RUNNING 12.1": what an event changed, in a few words.
std::string DescribeChange(const v1::Event& event);

}  // namespace ksweep::cli
