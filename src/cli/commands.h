// Subcommands register themselves here; main() builds the CLI11 app from the registry, so adding a
// command is adding one cmd_<name>.cc file.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace glimpse::cli {

// `setup` adds a subcommand to the app and returns the function that runs it after parsing
// (returning the process exit code).
using CommandSetup = std::function<std::function<int()>(CLI::App& app)>;

struct CommandRegistrar {
  CommandRegistrar(int order, CommandSetup setup);
};

}  // namespace glimpse::cli
