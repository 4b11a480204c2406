// One `ksweep-agent` subcommand, and what every subcommand shares: exit codes and option parsing.
//
// Adding a command: write `agent/commands/foo_command.cc` defining `AgentCommand FooCommand()`, then add one line to
// the list in commands.cc and the file to agent/CMakeLists.txt.
#pragma once

#include <boost/program_options.hpp>

#include <string>
#include <vector>

#include "common/rules.h"
#include "common/status.h"

namespace ksweep::agent {

// Exit codes are a contract that scripts depend on (see docs/USAGE.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitInternal = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitDetected = 3;

struct AgentCommand {
  const char* name;
  const char* usage;  // one line, without the leading "ksweep-agent "
  int (*run)(const std::vector<std::string>& args);
};

// Prints "ksweep-agent: MESSAGE" and the usage of every command to stderr; returns kExitUsage.
int UsageError(const std::string& message);

// Prints the command's usage line and its option descriptions to stdout; returns kExitOk.
int PrintHelp(const AgentCommand& command, const boost::program_options::options_description& desc);

// Parses `args` against `desc`. When `desc` has a "config" option and it is given, that file's `key = value` lines
// (same names as the flags) are read too; flags given on the command line win. Errors name the flag or the file.
Result<boost::program_options::variables_map> ParseOptions(const boost::program_options::options_description& desc,
                                                           const std::vector<std::string>& args);

// The rules file at `path`, or the built-in Kaspersky rules when `path` is empty.
Result<v1::RuleSet> LoadRules(const std::string& path);

}  // namespace ksweep::agent
