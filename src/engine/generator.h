// One request, start to finish, on one model: chat messages → prompt (template, images, tokens) →
// vision tower → prefill → decode loop with the KV cache, reporting each token as it is made.
// The per-token part (TokenStream: Sampler + StopChecker) is shared with the server's scheduler;
// this class is the single-request path `glimpse run`, the benchmark and the tests take.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/generation_result.h"
#include "engine/sampling.h"
#include "io/prompt.h"
#include "model/config.h"
#include "model/glm4v.h"

namespace glimpse::engine {

struct GenerationParams {
  SamplingParams sampling;
  std::optional<int64_t> max_tokens;  // none: until eos or the context is full
  std::vector<std::string> stop;      // stop strings
  bool ignore_eos = false;
};

// One generated token as it happens. `text` is the newly visible text, which may be empty while
// a possible stop string or an unfinished UTF-8 character is held back.
struct TokenEvent {
  int64_t index = 0;  // 0 for the first generated token
  int32_t token_id = 0;
  std::string text;
  const TokenLogprobs* logprobs = nullptr;  // set when the request asked for logprobs
  std::optional<FinishReason> finish;       // set on the last token
};
using TokenCallback = std::function<void(const TokenEvent&)>;

// The sampling generation_config.json asks for, read as transformers' generate() reads it:
// do_sample false (or absent) is greedy; otherwise temperature / top_p / top_k from the file, with
// transformers' defaults (1.0 / 1.0 / 50) for those it leaves out.
SamplingParams default_sampling(const model::GenerationDefaults& defaults);

// The pixel form `model` reads (io::PromptBuilder::set_pixel_form): the 8-bit samples on the GPU,
// which uploads them as they are, the f32 rows on the CPU.
io::PixelForm pixel_form_for(const model::Glm4vModel& model);

class Generator {
 public:
  // Both must outlive the generator; they must come from the same model directory.
  Generator(const model::Glm4vModel& model, const io::PromptBuilder& prompts);

  // Builds the prompt from chat messages (timed as preprocessing), then generates.
  GenerationResult generate(const io::PromptRequest& request, const io::MediaPolicy& media,
                            const GenerationParams& params, const TokenCallback& on_token) const;

  // Generates from a prompt built elsewhere; `preprocess_ms` is what building it took.
  GenerationResult generate(const io::Prompt& prompt, const GenerationParams& params,
                            const TokenCallback& on_token, double preprocess_ms = 0) const;

  // Prompt + generated tokens the model can hold (max_position_embeddings).
  int64_t context_limit() const;
  std::vector<int32_t> eos_token_ids() const;  // generation_config.json's, else config.json's

 private:
  const model::Glm4vModel* model_;
  const io::PromptBuilder* prompts_;
};

}  // namespace glimpse::engine
