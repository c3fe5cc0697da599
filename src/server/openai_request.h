// Parsing and validating OpenAI-compatible request bodies. Every rejection names the field
// (`param`) and what was expected; nothing here touches tensors or the model.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/sampling.h"
#include "io/prompt.h"

namespace glimpse::server {

struct GenerationOptions {
  engine::SamplingParams sampling;
  std::optional<int64_t> max_tokens;  // none: up to the context limit
  std::vector<std::string> stop;
  bool ignore_eos = false;  // extension used by benchmarks for fixed output lengths
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool logprobs = false;
};

struct ChatCompletionRequest {
  std::string model;
  io::PromptRequest prompt;  // messages, template kwargs (chat_template_kwargs), tools
  GenerationOptions options;
};

struct CompletionRequest {
  std::string model;
  std::string prompt;  // plain text, no chat template
  GenerationOptions options;
};

// Throw ApiException (400/422) naming the field at fault.
ChatCompletionRequest parse_chat_completion(const nlohmann::ordered_json& body);
CompletionRequest parse_completion(const nlohmann::ordered_json& body);

}  // namespace glimpse::server
