// Parts of the wire contract between agent, collector and clients that the .proto files cannot carry: both ends of
// each compile against these, so they cannot drift apart.
#pragma once

#include <cstddef>

namespace ksweep {

// The largest message an agent accepts from the collector (its channel's receive limit). The collector refuses at
// load a rule set that would not fit, since it could never be delivered.
inline constexpr size_t kAgentMaxReceiveBytes = size_t{4} << 20;

// Trailing metadata on a WatchEvents stream the collector cut off for lagging: the event id to resume after, as
// decimal text. RESOURCE_EXHAUSTED alone may also be the per-token rate limit, which is not resumable at once.
inline constexpr char kResumeAfterIdTrailer[] = "ksweep-resume-after-id";

}  // namespace ksweep
