// Runs one parsed command against the collector: build the request, call, print in the chosen form.
#pragma once

#include <ostream>

#include "cli/args.h"
#include "cli/client.h"
#include "cli/interrupts.h"

namespace ksweep::cli {

// Prints the answer to `out`, problems (and notes such as a listing cut at --limit) to `err`; returns the exit
// code. `interrupts` is needed by `events --follow` only (nullptr otherwise).
int RunCommand(const Invocation& invocation, FleetClient& client, Interrupts* interrupts, std::ostream& out,
               std::ostream& err);

// "ksweep: <message>" on `err`, and the exit code for the status.
int Fail(const Status& status, std::ostream& err);

}  // namespace ksweep::cli
