// Responses as JSON for scripts: the proto3 JSON mapping of the response message, every field present.
#pragma once

#include <google/protobuf/message.h>

#include <string>

namespace ksweep::cli {

// Indented, ending in a newline: one document per command.
std::string RenderJson(const google::protobuf::Message& message);
// One line, ending in a newline: JSON lines for streams (`events --follow -o json`).
std::string RenderJsonLine(const google::protobuf::Message& message);

}  // namespace ksweep::cli
