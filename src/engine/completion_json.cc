#include "engine/completion_json.h"

#include <fmt/format.h>

#include <random>

namespace glimpse::engine {
namespace {

using Json = nlohmann::ordered_json;

Json token_entry(const io::Tokenizer& tokenizer, const TokenLogprob& token) {
  // Ids past the tokenizer (padded embedding rows) have no text, as in HF tokenizers.
  const bool known = token.token_id >= 0 && token.token_id < tokenizer.vocab_size();
  const int32_t ids[1] = {token.token_id};
  Json bytes = Json::array();
  if (known)
    for (char c : tokenizer.token_bytes(token.token_id)) bytes.push_back(int(uint8_t(c)));
  return Json{{"token", known ? tokenizer.decode(ids) : std::string()},
              {"token_id", token.token_id},
              {"logprob", token.logprob},
              {"bytes", std::move(bytes)}};
}

Json logprobs_json(const GenerationResult& result, const io::Tokenizer& tokenizer) {
  Json content = Json::array();
  for (const auto& generated : result.tokens) {
    if (!generated.logprobs) return nullptr;  // the request did not ask for them
    content.push_back(token_logprobs_json(*generated.logprobs, tokenizer));
  }
  return Json{{"content", std::move(content)}};
}

}  // namespace

Json token_logprobs_json(const TokenLogprobs& logprobs, const io::Tokenizer& tokenizer) {
  Json entry = token_entry(tokenizer, logprobs.chosen);
  Json top = Json::array();
  for (const auto& alternative : logprobs.top) top.push_back(token_entry(tokenizer, alternative));
  entry["top_logprobs"] = std::move(top);
  return entry;
}

Json usage_json(const GenerationResult& result) {
  const auto prompt_tokens = int64_t(result.prompt_ids.size());
  const auto completion_tokens = int64_t(result.tokens.size());
  return Json{{"prompt_tokens", prompt_tokens},
              {"completion_tokens", completion_tokens},
              {"total_tokens", prompt_tokens + completion_tokens},
              {"image_tokens", result.image_tokens}};
}

Json timings_json(const Timings& t) {
  const auto per_token = t.decode_ms_per_token();
  return Json{
      {"queue", t.queue_ms},   {"preprocess", t.preprocess_ms},
      {"vision", t.vision_ms}, {"prefill", t.prefill_ms},
      {"ttft", t.ttft_ms},     {"decode_per_token", per_token ? Json(*per_token) : Json(nullptr)},
      {"total", t.total_ms}};
}

Json chat_completion_json(const GenerationResult& result, const io::Tokenizer& tokenizer,
                          const CompletionInfo& info) {
  Json choice{{"index", 0},
              {"message", Json{{"role", "assistant"}, {"content", result.text}}},
              {"logprobs", logprobs_json(result, tokenizer)},
              {"finish_reason", to_string(result.finish_reason)}};
  return Json{{"id", info.id},
              {"object", "chat.completion"},
              {"created", info.created},
              {"model", info.model},
              {"choices", Json::array({std::move(choice)})},
              {"usage", usage_json(result)},
              {"prompt_token_ids", result.prompt_ids},
              {"timings", timings_json(result.timings)}};
}

std::string new_completion_id() {
  std::random_device device;
  std::mt19937_64 rng((uint64_t(device()) << 32) ^ device());
  return fmt::format("chatcmpl-{:016x}{:08x}", rng(), uint32_t(rng()));
}

}  // namespace glimpse::engine
