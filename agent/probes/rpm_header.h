// A bounds-checked reader of one rpm header blob, as rpm stores it per installed package (rpmdb.sqlite
// `Packages.blob`, the BDB/NDB Packages records): no librpm, no allocation, no trust in the input.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ksweep::agent {

// rpm's own sanity limits (lib/header.c hdrchkTags / hdrchkData): larger values mean a corrupt blob.
inline constexpr uint32_t kRpmMaxIndexEntries = 0xffff;
inline constexpr uint32_t kRpmMaxDataBytes = 0x00ffffff;

inline constexpr uint32_t kRpmTagName = 1000;
inline constexpr uint32_t kRpmTagVersion = 1001;
inline constexpr uint32_t kRpmTagRelease = 1002;
inline constexpr uint32_t kRpmTagEpoch = 1003;
inline constexpr uint32_t kRpmTagInstallTime = 1008;
inline constexpr uint32_t kRpmTagVendor = 1011;
inline constexpr uint32_t kRpmTagArch = 1022;

// Views into the blob handed to ParseRpmHeader: valid only as long as that blob is.
struct RpmHeaderView {
  std::string_view name;
  std::string_view version;
  std::string_view release;
  std::string_view arch;    // empty when absent (gpg-pubkey pseudo packages have none)
  std::string_view vendor;  // empty when absent
  std::optional<uint32_t> epoch;
  std::optional<uint32_t> install_time;  // seconds since 1970, as rpm records it
};

// `blob`: big-endian index count, data length, 16-byte index entries {tag, type, offset, count}, data store.
// A blob that starts with the 8-byte header magic (a header cut from a .rpm file) is accepted too.
// NAME, VERSION and RELEASE are required; any malformation gives InvalidArgument naming the problem.
Result<RpmHeaderView> ParseRpmHeader(std::string_view blob);

// "[epoch:]version-release", as `rpm -q --qf '%{EVR}'` prints it (the epoch whenever the tag is present).
std::string RpmEvr(const RpmHeaderView& header);

}  // namespace ksweep::agent
