#include "engine/token_stream.h"

namespace glimpse::engine {

TokenStream::TokenStream(const io::Tokenizer& tokenizer, const GenerationParams& params,
                         std::span<const int32_t> prompt_ids, int64_t vocab_size,
                         StopConditions stop)
    : params_(params),
      sampler_(params.sampling, prompt_ids, vocab_size),
      stop_(tokenizer, std::move(stop), int64_t(prompt_ids.size())) {
  result_.prompt_ids.assign(prompt_ids.begin(), prompt_ids.end());
}

TokenEvent TokenStream::next(std::span<const float> logits) {
  return accept(choose(logits), logits);
}

TokenEvent TokenStream::accept(int32_t token, std::span<const float> logits) {
  GeneratedToken generated{token, std::nullopt};
  if (params_.sampling.logprobs)
    generated.logprobs = compute_logprobs(logits, token, *params_.sampling.logprobs);
  StopChecker::Step step = stop_.accept(token);
  result_.text += step.text;
  result_.tokens.push_back(std::move(generated));
  const auto& last = result_.tokens.back();
  if (step.finish) {
    result_.finish_reason = *step.finish;
    finished_ = true;
  }
  return TokenEvent{int64_t(result_.tokens.size()) - 1, token, std::move(step.text),
                    last.logprobs ? &*last.logprobs : nullptr, step.finish};
}

}  // namespace glimpse::engine
