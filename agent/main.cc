// ksweep-agent: dispatches to the subcommands in agent/commands/ (one file each).
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "agent/commands/commands.h"

namespace ksweep::agent {
namespace {

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return UsageError("missing command");
  const std::string name = args.front();
  args.erase(args.begin());
  for (const AgentCommand& command : AllCommands()) {
    if (name == command.name) return command.run(args);
  }
  if (name == "--version" || name == "version") {
    std::cout << "ksweep-agent " << KSWEEP_VERSION << "\n";
    return kExitOk;
  }
  if (name == "--help" || name == "-h" || name == "help") {
    for (const AgentCommand& command : AllCommands()) std::cout << "ksweep-agent " << command.usage << "\n";
    return kExitOk;
  }
  return UsageError("unknown command '" + name + "'");
}

}  // namespace
}  // namespace ksweep::agent

int main(int argc, char** argv) {
  try {
    return ksweep::agent::Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "ksweep-agent: internal error: " << e.what() << "\n";
    return ksweep::agent::kExitInternal;
  }
}
