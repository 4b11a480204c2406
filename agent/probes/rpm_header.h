// A bounds-checked reader of one rpm header blob, as rpm stores it per installed package (rpmdb.sqlite
// `Packages.blob`, the BDB/NDB Packages records): no librpm, no allocation, no trust in the input.
#pragma once

#include <cstddef>
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
inline constexpr uint32_t kRpmTagVendor = 1011;
inline constexpr uint32_t kRpmTagArch = 1022;

// Views into the blob handed to the parser: valid only as long as that blob is.
// No INSTALLTIME: rpm appends it after the signed region, at the very end of a blob that the file lists make tens of
// kilobytes long, and reading that far costs every overflow page of the database (measured: 6x the whole scan).
struct RpmHeaderView {
  std::string_view name;
  std::string_view version;
  std::string_view release;
  std::string_view arch;    // empty when absent (gpg-pubkey pseudo packages have none)
  std::string_view vendor;  // empty when absent
  std::optional<uint32_t> epoch;
};

// `blob`: big-endian index count, data length, 16-byte index entries {tag, type, offset, count}, data store.
// A blob that starts with the 8-byte header magic (a header cut from a .rpm file) is accepted too.
// NAME, VERSION and RELEASE are required; any malformation gives InvalidArgument naming the problem.
Result<RpmHeaderView> ParseRpmHeader(std::string_view blob);

// The same over the first bytes of a blob of `total_size` bytes, for readers that fetch blobs piecewise (the fields
// read here sit near the front, before the file lists that make headers big). When a needed field lies past
// `prefix`, sets `*need` to a longer prefix length to retry with and returns Unavailable; otherwise `*need` is 0.
// A header that is malformed is InvalidArgument as soon as the bytes that show it are in the prefix.
Result<RpmHeaderView> ParseRpmHeaderPrefix(std::string_view prefix, size_t total_size, size_t* need);

// "[epoch:]version-release", as `rpm -q --qf '%{EVR}'` prints it (the epoch whenever the tag is present).
std::string RpmEvr(const RpmHeaderView& header);

}  // namespace ksweep::agent
