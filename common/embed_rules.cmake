# Turns the rules JSON into a C++ source file, so the agent carries its default rules inside the binary.
file(READ ${INPUT} CONTENT HEX)
string(LENGTH "${CONTENT}" HEX_LEN)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," BYTES "${CONTENT}")
file(WRITE ${OUTPUT}
"// Generated from common/rules/kaspersky.rules.json by common/embed_rules.cmake. Do not edit.\n"
"#include \"common/rules.h\"\n\n"
"namespace ksweep {\nnamespace {\nconstexpr char kRules[] = {${BYTES} '\\0'};\n}  // namespace\n\n"
"std::string_view BuiltinRulesJson() { return {kRules, sizeof(kRules) - 1}; }\n\n}  // namespace ksweep\n")
