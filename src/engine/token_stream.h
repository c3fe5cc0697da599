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
  // (whose logprobs pointer stays valid until the next call). Same as accept(choose(logits)).
  TokenEvent next(std::span<const float> logits);
  // The two halves of next(): choose() only samples (it touches this stream's sampler alone, so
  // the streams of a batch may choose in parallel); accept() attaches logprobs, applies the stop
  // rules and records the token.
  int32_t choose(std::span<const float> logits) { return sampler_.sample(logits); }
  TokenEvent accept(int32_t token, std::span<const float> logits);
  // Whether this stream needs the step's full logits; if not, the caller may pick the argmax where
  // the logits live and call accept_argmax().
  bool needs_logits() const {
    return sampler_.needs_logits() || params_.sampling.logprobs.has_value();
  }
  TokenEvent accept_argmax(int32_t token) {
    sampler_.accept_argmax(token);
    return accept(token, {});
  }
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
