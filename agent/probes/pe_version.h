// The version resource of a Windows executable or driver (PE/COFF): CompanyName, FileVersion, ProductName ... as
// Explorer's Properties > Details shows them. A pure parser: it reads the file only through `ReadAt`, a few small
// bounded reads (headers, three resource directories, one VS_VERSIONINFO), never the whole image.
// Layout: DOS header -> PE header -> section table -> resource directory (type RT_VERSION = 16, first name, first
// language) -> VS_VERSIONINFO -> StringFileInfo -> the first StringTable's strings (UTF-16LE).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ksweep::agent {

// The Windows loader refuses more sections than this.
constexpr uint32_t kMaxPeSections = 96;
// A version resource is a few hundred bytes to a few KiB; its WORD length field cannot say more than 64 KiB.
constexpr size_t kMaxVersionResourceBytes = 64 * 1024;
// Where the PE header may start (e_lfanew); real linkers put it within the first few hundred bytes.
constexpr uint32_t kMaxPeHeaderOffset = 64 * 1024;

struct PeVersionInfo {
  std::string company_name;
  // The FileVersion string; when the string table has none, the fixed file version ("21.3.10.391").
  std::string file_version;
  std::string product_name;
  std::string product_version;
  std::string file_description;
};

// Up to `length` bytes at `offset`; fewer only at the end of the file.
using ReadAt = std::function<Result<std::string>(uint64_t offset, size_t length)>;

// kNotFound when the image has no version resource; kInvalidArgument with the reason when it is not a well-formed
// PE file. The caller names the file.
Result<PeVersionInfo> ReadPeVersion(const ReadAt& read, uint64_t file_size);

// The same over a whole file in memory.
Result<PeVersionInfo> ParsePeVersion(std::string_view file);

// VS_VERSIONINFO alone (the bytes of the RT_VERSION resource).
Result<PeVersionInfo> ParseVersionInfo(std::string_view resource);

}  // namespace ksweep::agent
