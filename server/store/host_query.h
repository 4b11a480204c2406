// The parsed, backend-neutral form of a fleet HostFilter: every condition is ANDed.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ksweep/v1/fleet.pb.h"
#include "server/clock.h"

namespace ksweep::server {

struct ProductCondition {
  std::string product_id;  // empty: any product
  std::string version;     // empty: any version
};

struct OsCondition {
  std::string id;          // os-release ID
  std::string version_id;  // empty: any version
};

struct HostQuery {
  std::vector<std::vector<v1::Verdict>> verdict_sets;  // each set: any of
  std::vector<std::vector<v1::Platform>> platform_sets;  // each set: any of; never PLATFORM_UNSPECIFIED
  std::vector<ProductCondition> products;
  std::vector<OsCondition> os;
  std::vector<std::string> hostname_globs;  // shell globs, case-sensitive
  std::vector<std::string> labels;
  std::optional<Micros> seen_after;   // last_seen >= this
  std::optional<Micros> seen_before;  // last_seen < this

  bool empty() const {
    return verdict_sets.empty() && platform_sets.empty() && products.empty() && os.empty() &&
           hostname_globs.empty() && labels.empty() && !seen_after && !seen_before;
  }
};

// A stable text form of the query and order: page tokens are bound to it, so a token only fits its own query.
std::string CanonicalQuery(const HostQuery& query, v1::HostOrder order);

struct EventQuery {
  std::string host;  // host id or hostname; empty: all hosts
  std::vector<v1::EventType> types;
  std::optional<Micros> since;
  int64_t after_id = 0;  // only events with a larger id
};

std::string CanonicalQuery(const EventQuery& query);

}  // namespace ksweep::server
