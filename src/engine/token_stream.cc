#include "engine/token_stream.h"

#include <algorithm>

#include "ops/argmax.h"

namespace glimpse::engine {

TokenStream::TokenStream(const io::Tokenizer& tokenizer, const GenerationParams& params,
                         std::span<const int32_t> prompt_ids, int64_t vocab_size,
                         StopConditions stop)
    : params_(params),
      sampler_(params.sampling, prompt_ids, vocab_size),
      stop_(tokenizer, std::move(stop), int64_t(prompt_ids.size())) {
  result_.prompt_ids.assign(prompt_ids.begin(), prompt_ids.end());
}

TokenEvent TokenStream::accept(int32_t token, std::optional<TokenLogprobs> logprobs) {
  if (logprobs.has_value() != params_.sampling.logprobs.has_value())
    fail(ErrorKind::kInternal, "token stream: logprobs {} for a request that {} them",
         logprobs ? "given" : "missing", params_.sampling.logprobs ? "asked for" : "did not ask");
  sampler_.accept(token);
  StopChecker::Step step = stop_.accept(token);
  result_.text += step.text;
  result_.tokens.push_back(GeneratedToken{token, std::move(logprobs)});
  const auto& last = result_.tokens.back();
  if (step.finish) {
    result_.finish_reason = *step.finish;
    finished_ = true;
  }
  return TokenEvent{int64_t(result_.tokens.size()) - 1, token, std::move(step.text),
                    last.logprobs ? &*last.logprobs : nullptr, step.finish};
}

std::vector<ops::SampledToken> pick_tokens(const Tensor& logits,
                                           std::span<TokenStream* const> streams) {
  if (logits.dim() != 2 || logits.size(0) != int64_t(streams.size()))
    fail(ErrorKind::kInternal, "pick_tokens: logits {} for {} streams",
         shape_string(logits.shape()), streams.size());
  if (streams.empty()) return {};
  if (std::all_of(streams.begin(), streams.end(),
                  [](const TokenStream* s) { return s->argmax_suffices(); })) {
    const std::vector<int32_t> tokens = ops::argmax_rows(logits);
    std::vector<ops::SampledToken> out(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) out[i].token_id = tokens[i];
    return out;
  }
  std::vector<ops::SampleRow> rows;
  rows.reserve(streams.size());
  for (TokenStream* s : streams) rows.push_back(s->sample_row());
  return ops::sample_rows(logits, rows);
}

}  // namespace glimpse::engine
