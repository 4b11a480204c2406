// The list of `ksweep-agent` subcommands (commands.cc holds it; one line per command).
#pragma once

#include <vector>

#include "agent/commands/command.h"

namespace ksweep::agent {

const std::vector<AgentCommand>& AllCommands();

}  // namespace ksweep::agent
