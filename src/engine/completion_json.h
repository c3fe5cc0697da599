// A finished request as an OpenAI `chat.completion` object, plus glimpse's extension fields:
// `prompt_token_ids` (image tokens expanded), `timings` (ms) and `usage.image_tokens`.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/generation_result.h"
#include "io/tokenizer.h"

namespace glimpse::engine {

struct CompletionInfo {
  std::string id;       // "chatcmpl-..."
  std::string model;    // the name clients asked for / the model directory's name
  int64_t created = 0;  // Unix seconds
};

// Logprob entries carry `token` (the token's text, U+FFFD where it holds part of a character),
// `token_id`, `logprob`, `bytes` (the exact UTF-8 bytes) and `top_logprobs` in the same form.
nlohmann::ordered_json chat_completion_json(const GenerationResult& result,
                                            const io::Tokenizer& tokenizer,
                                            const CompletionInfo& info);

// The parts, for streamed chunks: one `logprobs.content[]` entry, the `usage` object and the
// `timings` object of the completion above.
nlohmann::ordered_json token_logprobs_json(const TokenLogprobs& logprobs,
                                           const io::Tokenizer& tokenizer);
nlohmann::ordered_json usage_json(const GenerationResult& result);
nlohmann::ordered_json timings_json(const Timings& timings);

// "chatcmpl-" and 24 random hex digits.
std::string new_completion_id();

}  // namespace glimpse::engine
