#include "agent/commands/commands.h"

#include <iostream>

namespace ksweep::agent {

// Each defined in its own NAME_command.cc.
AgentCommand ScanCommand();
AgentCommand RunCommand();
AgentCommand EnrollCommand();
AgentCommand ConfigureCommand();

const std::vector<AgentCommand>& AllCommands() {
  static const std::vector<AgentCommand> commands = {
      ScanCommand(),
      RunCommand(),
      EnrollCommand(),
      ConfigureCommand(),
  };
  return commands;
}

namespace {

void PrintUsage(std::ostream& out) {
  const char* prefix = "usage: ";
  for (const AgentCommand& c : AllCommands()) {
    out << prefix << "ksweep-agent " << c.usage << "\n";
    prefix = "       ";
  }
  out << prefix << "ksweep-agent --version\n";
}

}  // namespace

int UsageError(const std::string& message) {
  std::cerr << "ksweep-agent: " << message << "\n";
  PrintUsage(std::cerr);
  return kExitUsage;
}

int PrintHelp(const AgentCommand& command, const boost::program_options::options_description& desc) {
  std::cout << "usage: ksweep-agent " << command.usage << "\n\n" << desc;
  return kExitOk;
}

Result<boost::program_options::variables_map> ParseOptions(const boost::program_options::options_description& desc,
                                                           const std::vector<std::string>& args) {
  namespace po = boost::program_options;
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).run(), vm);
    if (desc.find_nothrow("config", false) != nullptr && vm.count("config")) {
      // program_options keeps the first value stored, so flags already stored win over the file.
      const std::string file = vm["config"].as<std::string>();
      try {
        po::store(po::parse_config_file<char>(file.c_str(), desc), vm);
      } catch (const po::reading_file&) {
        return Status::InvalidArgument("cannot read config file '" + file + "'");
      } catch (const po::error& e) {
        return Status::InvalidArgument("config file '" + file + "': " + e.what());
      }
    }
    po::notify(vm);
  } catch (const po::error& e) {
    return Status::InvalidArgument(e.what());
  }
  return vm;
}

Result<v1::RuleSet> LoadRules(const std::string& path) {
  return path.empty() ? BuiltinRules() : LoadRulesFile(path);
}

}  // namespace ksweep::agent
