// `glimpse run`: one request from the command line. Text mode streams the answer to stdout as it
// is generated and ends with one timing line on stderr; JSON mode prints one OpenAI
// chat.completion object (with logprobs, prompt_token_ids and timings).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/device_options.h"
#include "core/error.h"
#include "core/paths.h"
#include "engine/completion_json.h"
#include "engine/cpu_threads.h"
#include "engine/generator.h"
#include "io/prompt.h"
#include "model/glm4v.h"

namespace glimpse::cli {
namespace {

using Json = nlohmann::ordered_json;

struct RunOptions {
  std::string model;
  std::vector<std::string> images;
  std::string prompt, system, messages_file;
  int64_t max_tokens = 0;
  double temperature = 0, top_p = 1, min_p = 0;
  int64_t top_k = 0;
  double repetition_penalty = 1, presence_penalty = 0, frequency_penalty = 0;
  uint64_t seed = 0;
  int logprobs = 0;
  std::vector<std::string> stop;
  bool no_think = false, ignore_eos = false;
  std::string format = "text";
  int threads = 0;
  DeviceChoice device;
  // Which sampling flags were given (the rest come from generation_config.json).
  CLI::Option *max_tokens_flag, *temperature_flag, *top_p_flag, *top_k_flag, *min_p_flag,
      *repetition_flag, *presence_flag, *frequency_flag, *seed_flag, *logprobs_flag;
};

Json read_messages_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::kNotFound, "--messages {}: cannot open the file", path);
  std::stringstream text;
  text << in.rdbuf();
  Json body;
  try {
    body = Json::parse(text.str());
  } catch (const nlohmann::json::parse_error& e) {
    fail(ErrorKind::kInvalidArgument, "--messages {}: not JSON ({})", path, e.what());
  }
  // Either the messages list itself or a request body holding one.
  if (body.is_object() && body.contains("messages")) body = body["messages"];
  if (!body.is_array())
    fail(ErrorKind::kInvalidArgument, "--messages {}: expected a list of chat messages", path);
  return body;
}

Json messages_from_flags(const RunOptions& o) {
  Json messages = Json::array();
  if (!o.system.empty()) messages.push_back({{"role", "system"}, {"content", o.system}});
  if (o.images.empty()) {
    messages.push_back({{"role", "user"}, {"content", o.prompt}});
    return messages;
  }
  Json parts = Json::array();
  for (const auto& image : o.images)
    parts.push_back({{"type", "image_url"}, {"image_url", {{"url", image}}}});
  parts.push_back({{"type", "text"}, {"text", o.prompt}});
  messages.push_back({{"role", "user"}, {"content", std::move(parts)}});
  return messages;
}

engine::GenerationParams generation_params(const RunOptions& o, const model::ModelConfig& config) {
  engine::GenerationParams params;
  engine::SamplingParams& s = params.sampling;
  s = engine::default_sampling(config.generation);
  if (o.temperature_flag->count()) s.temperature = o.temperature;
  if (o.top_p_flag->count()) s.top_p = o.top_p;
  if (o.top_k_flag->count()) s.top_k = o.top_k;
  if (o.min_p_flag->count()) s.min_p = o.min_p;
  if (o.repetition_flag->count()) s.repetition_penalty = o.repetition_penalty;
  if (o.presence_flag->count()) s.presence_penalty = o.presence_penalty;
  if (o.frequency_flag->count()) s.frequency_penalty = o.frequency_penalty;
  if (o.seed_flag->count()) s.seed = o.seed;
  if (o.logprobs_flag->count()) s.logprobs = o.logprobs;
  engine::validate(s);
  if (o.max_tokens_flag->count()) params.max_tokens = o.max_tokens;
  params.stop = o.stop;
  params.ignore_eos = o.ignore_eos;
  return params;
}

std::string timing_line(const engine::GenerationResult& r, double load_ms) {
  const auto& t = r.timings;
  const double prefill_rate =
      t.prefill_ms > 0 ? double(r.prompt_ids.size()) * 1e3 / t.prefill_ms : 0;
  std::string decode = "decode n/a (1 token)";
  if (const auto per_token = t.decode_ms_per_token())
    decode = fmt::format("decode {:.2f} tok/s ({} tokens)", 1e3 / *per_token, t.decode_tokens);
  return fmt::format(
      "[load {:.0f} ms | preprocess {:.1f} ms | vision {:.1f} ms ({} image tokens) | prefill "
      "{:.1f} "
      "ms ({} tokens, {:.1f} tok/s) | TTFT {:.1f} ms | {} | finish {}]\n",
      load_ms, t.preprocess_ms, t.vision_ms, r.image_tokens, t.prefill_ms, r.prompt_ids.size(),
      prefill_rate, t.ttft_ms, decode, engine::to_string(r.finish_reason));
}

int run(const RunOptions& o) {
  const bool json = o.format == "json";
  if (o.prompt.empty() == o.messages_file.empty())
    fail(ErrorKind::kInvalidArgument, "give exactly one of --prompt and --messages");
  if (!o.messages_file.empty() && (!o.images.empty() || !o.system.empty()))
    fail(ErrorKind::kInvalidArgument,
         "--image and --system go with --prompt; put images and the system message in the "
         "--messages file");
  if (o.logprobs_flag->count() && !json)
    fail(ErrorKind::kInvalidArgument, "--logprobs is reported in JSON only: add --format json");
  engine::set_cpu_threads(o.threads);

  io::PromptRequest request;
  io::MediaPolicy media;
  media.allow_local_paths = true;
  if (o.messages_file.empty()) {
    request.messages = messages_from_flags(o);
    media.base_dir = std::filesystem::current_path().string();
  } else {
    request.messages = read_messages_file(o.messages_file);
    // Image paths in a messages file are relative to the file.
    media.base_dir =
        std::filesystem::absolute(o.messages_file).parent_path().lexically_normal().string();
  }
  if (o.no_think) request.template_kwargs["enable_thinking"] = false;

  const auto load_start = std::chrono::steady_clock::now();
  io::PromptBuilder prompts(o.model);
  const auto model = model::Glm4vModel::load(o.model, load_options(o.device));
  prompts.set_pixel_form(engine::pixel_form_for(*model));
  const double load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - load_start)
          .count();
  const engine::GenerationParams params = generation_params(o, model->config());
  const engine::Generator generator(*model, prompts);

  engine::TokenCallback stream;
  if (!json)
    stream = [](const engine::TokenEvent& event) {
      std::fwrite(event.text.data(), 1, event.text.size(), stdout);
      std::fflush(stdout);
    };
  const engine::GenerationResult result = generator.generate(request, media, params, stream);

  if (json) {
    const engine::CompletionInfo info{
        engine::new_completion_id(),
        std::filesystem::path(o.model).lexically_normal().filename().string(),
        std::chrono::duration_cast<std::chrono::seconds>(
            std::chrono::system_clock::now().time_since_epoch())
            .count()};
    const std::string text = engine::chat_completion_json(result, prompts.tokenizer(), info)
                                 .dump(2, ' ', false, Json::error_handler_t::replace) +
                             "\n";
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    std::fputs("\n", stdout);
    std::fflush(stdout);
    std::fputs(timing_line(result, load_ms).c_str(), stderr);
  }
  return 0;
}

const CommandRegistrar kRegister(20, [](CLI::App& app) -> std::function<int()> {
  auto* cmd = app.add_subcommand("run", "Answer one prompt (text and images) with a model");
  auto o = std::make_shared<RunOptions>();
  o->model = default_model_dir();
  cmd->add_option("--model", o->model, "Hugging Face GLM-4.6V model directory")
      ->capture_default_str();
  cmd->add_option("--image", o->images,
                  "Image file to show the model (repeatable; before the prompt)");
  cmd->add_option("--prompt", o->prompt, "The user message");
  add_device_options(cmd, &o->device);
  cmd->add_option("--system", o->system, "A system message (with --prompt)");
  cmd->add_option("--messages", o->messages_file,
                  "JSON file with OpenAI chat messages (or a request body holding them); image "
                  "paths are relative to the file");
  o->max_tokens_flag = cmd->add_option("--max-tokens", o->max_tokens,
                                       "Most tokens to generate (default: up to the context)")
                           ->check(CLI::Range(int64_t(1), int64_t(1) << 40));
  o->temperature_flag = cmd->add_option("--temperature", o->temperature,
                                        "0 = greedy (default: generation_config.json's)");
  o->top_p_flag = cmd->add_option("--top-p", o->top_p, "Nucleus sampling mass");
  o->top_k_flag = cmd->add_option("--top-k", o->top_k, "Sample among the k most likely (0 = off)");
  o->min_p_flag =
      cmd->add_option("--min-p", o->min_p, "Drop tokens below min_p x the top probability");
  o->repetition_flag = cmd->add_option("--repetition-penalty", o->repetition_penalty,
                                       "transformers' repetition penalty (prompt + output)");
  o->presence_flag = cmd->add_option("--presence-penalty", o->presence_penalty,
                                     "OpenAI presence penalty (output tokens)");
  o->frequency_flag = cmd->add_option("--frequency-penalty", o->frequency_penalty,
                                      "OpenAI frequency penalty (output tokens)");
  o->seed_flag = cmd->add_option("--seed", o->seed, "RNG seed: same seed, same sample");
  o->logprobs_flag = cmd->add_option("--logprobs", o->logprobs,
                                     "Report each token's logprob and K alternatives (0-20; JSON)");
  cmd->add_option("--stop", o->stop, "Stop string, never shown (repeatable)");
  cmd->add_flag("--no-think", o->no_think, "Pass enable_thinking=false to the chat template");
  cmd->add_flag("--ignore-eos", o->ignore_eos, "Keep generating past end-of-sequence tokens");
  cmd->add_option("--format", o->format, "Output: text (streamed) or json (chat.completion)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "CPU threads (default: all)");
  return [o] { return run(*o); };
});

}  // namespace
}  // namespace glimpse::cli
