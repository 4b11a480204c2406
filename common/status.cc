#include "common/status.h"

namespace ksweep {

const char* CodeName(Status::Code code) {
  switch (code) {
    case Status::Code::kOk: return "ok";
    case Status::Code::kInvalidArgument: return "invalid argument";
    case Status::Code::kNotFound: return "not found";
    case Status::Code::kUnavailable: return "unavailable";
    case Status::Code::kPermissionDenied: return "permission denied";
    case Status::Code::kIoError: return "I/O error";
    case Status::Code::kTimeout: return "timeout";
    case Status::Code::kInternal: return "internal error";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(CodeName(code_)) + ": " + message_;
}

}  // namespace ksweep
