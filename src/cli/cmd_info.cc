// `glimpse info --model DIR [--json]`: loads the directory exactly as the engine would (config,
// every tensor checked against it) and describes it.
#include <cstdio>

#include "cli/commands.h"
#include "core/paths.h"
#include "model/config.h"
#include "model/model_info.h"
#include "model/weights.h"

namespace glimpse::cli {
namespace {

struct InfoOptions {
  std::string model;
  bool json = false;
};

const CommandRegistrar kRegister(10, [](CLI::App& app) -> std::function<int()> {
  auto* cmd = app.add_subcommand("info", "Describe a model directory (and check every tensor)");
  auto opts = std::make_shared<InfoOptions>();
  opts->model = default_model_dir();
  cmd->add_option("--model", opts->model, "Hugging Face GLM-4.6V model directory")
      ->capture_default_str();
  cmd->add_flag("--json", opts->json, "Print one JSON object instead of a table");
  return [opts] {
    const model::ModelConfig config = model::load_model_config(opts->model);
    const model::ModelWeights weights = model::ModelWeights::load(opts->model, config);
    const model::ModelInfo info = model::describe_model(opts->model, config, weights);
    const std::string text =
        opts->json ? model::info_to_json(info) + "\n" : model::info_to_text(info);
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  };
});

}  // namespace
}  // namespace glimpse::cli
