// How the collector derives history: agents send whole snapshots, the collector compares each with the last one.
// Pure functions, shared by every store backend.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "ksweep/v1/fleet.pb.h"
#include "ksweep/v1/report.pb.h"

namespace ksweep::server {

struct ProductStatus {
  v1::ProductState state = v1::PRODUCT_STATE_UNSPECIFIED;
  std::string version;
  std::string name;
};

// Product id -> its state on one host.
using ProductMap = std::map<std::string, ProductStatus>;

ProductMap ProductsOf(const v1::HostReport& report);

// Events (type, product, old/new state and version only) turning `before` into `after`, one per changed product:
//   absent -> any:                 DETECTED, or REAPPEARED when `ever_seen` holds the product
//   INSTALLED/RUNNING -> REMNANT:  REMOVED (only remnants left)
//   any -> absent:                 REMOVED
//   REMNANT -> INSTALLED/RUNNING:  REAPPEARED
//   INSTALLED <-> RUNNING:         STATE_CHANGED
//   same state, other version:     VERSION_CHANGED
std::vector<v1::Event> DiffProducts(const ProductMap& before, const ProductMap& after,
                                    const std::set<std::string>& ever_seen);

// Structural checks every backend applies before storing: what a well-formed agent never sends.
// `where` names the report in messages ("report 7 from host abc").
Status CheckReport(const v1::HostReport& report, std::string_view where);

// Ordering for "strongest first": RUNNING > INSTALLED > REMNANT > STALE > CLEAN.
int VerdictRank(v1::Verdict verdict);

// "RUNNING", "INSTALLED", ... (the Summary.by_verdict keys).
std::string VerdictName(v1::Verdict verdict);
std::optional<v1::Verdict> ParseVerdictName(std::string_view name);  // case-insensitive, with or without VERDICT_

// Product ids, strongest state first, then by id.
std::vector<std::string> ProductsStrongestFirst(const ProductMap& products);

}  // namespace ksweep::server
