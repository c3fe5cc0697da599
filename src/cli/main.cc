// glimpse: one binary, subcommands in cmd_*.cc. Every glimpse::Error becomes a one-line message on
// stderr and a documented exit code (README.md); nothing escapes as a crash.
#include <fmt/core.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <map>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "core/version.h"

namespace glimpse::cli {
namespace {

std::vector<std::pair<int, CommandSetup>>& registry() {
  static std::vector<std::pair<int, CommandSetup>> commands;
  return commands;
}

}  // namespace

CommandRegistrar::CommandRegistrar(int order, CommandSetup setup) {
  registry().emplace_back(order, std::move(setup));
}

}  // namespace glimpse::cli

int main(int argc, char** argv) {
  using namespace glimpse;
  CLI::App app{"glimpse: fast GLM-4.6V-class vision-language inference, serving and timing"};
  app.require_subcommand(1);
  app.set_version_flag("--version", fmt::format("glimpse {} ({}{})", kVersion, kGitSha,
                                                kBuiltWithCuda ? ", cuda" : ""));

  auto& commands = cli::registry();
  std::stable_sort(commands.begin(), commands.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::map<const CLI::App*, std::function<int()>> runners;
  for (auto& [order, setup] : commands) {
    const size_t before = app.get_subcommands({}).size();
    auto run = setup(app);
    auto subs = app.get_subcommands({});
    if (subs.size() > before) runners[subs.back()] = std::move(run);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  try {
    for (const CLI::App* sub : app.get_subcommands()) {
      auto it = runners.find(sub);
      if (it != runners.end()) return it->second();
    }
    return kExitUsage;
  } catch (const Error& e) {
    std::fprintf(stderr, "glimpse: %s: %s\n", to_string(e.kind()), e.what());
    return exit_code_for(e.kind());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "glimpse: internal error: %s\n", e.what());
    return kExitInternal;
  }
}
