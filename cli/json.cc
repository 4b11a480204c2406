#include "cli/json.h"

#include <google/protobuf/util/json_util.h>

namespace ksweep::cli {
namespace {

std::string Render(const google::protobuf::Message& message, bool indent) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = indent;
  // Zero counts and false flags are answers too: a script should not have to know proto3 drops them.
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = false;  // lowerCamelCase, like `ksweep-agent scan --json`
  std::string json;
  // Printing a well-formed message cannot fail; parsers accept both field name styles.
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  if (json.empty() || json.back() != '\n') json.push_back('\n');
  return json;
}

}  // namespace

std::string RenderJson(const google::protobuf::Message& message) { return Render(message, true); }
std::string RenderJsonLine(const google::protobuf::Message& message) { return Render(message, false); }

}  // namespace ksweep::cli
