// HostFilter (fields and the `expr` text form) -> HostQuery. Errors name the bad term.
#pragma once

#include "common/status.h"
#include "ksweep/v1/fleet.pb.h"
#include "server/store/host_query.h"

namespace ksweep::server {

// `expr`: space-separated key=value terms (values may be double-quoted to hold spaces), keys verdict (comma list),
// platform (comma list of linux, windows, macos), product, version, os, hostname (glob), label, seen_after,
// seen_before (RFC 3339). All terms and fields are ANDed.
Result<HostQuery> ParseHostFilter(const v1::HostFilter& filter);

}  // namespace ksweep::server
