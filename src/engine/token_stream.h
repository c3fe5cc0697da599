// The per-request output side shared by the single-request Generator and the batching Scheduler:
// sample from logits, attach logprobs, apply the stop rules, and record the result.
#pragma once

#include <span>

#include "engine/generation_result.h"
#include "engine/generator.h"
#include "engine/sampling.h"
#include "engine/stop.h"

namespace glimpse::engine {

class TokenStream {
 public:
  TokenStream(const io::Tokenizer& tokenizer, const GenerationParams& params,
              std::span<const int32_t> prompt_ids, int64_t vocab_size, StopConditions stop);

  // Picks the next token from `logits` (f32 [vocab]), records it and returns its event
  // (whose logprobs pointer stays valid until the next call).
  TokenEvent next(std::span<const float> logits);
  bool finished() const { return finished_; }
  GenerationResult& result() { return result_; }

 private:
  GenerationParams params_;
  Sampler sampler_;
  StopChecker stop_;
  GenerationResult result_;
  bool finished_ = false;
};

}  // namespace glimpse::engine
