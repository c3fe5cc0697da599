// The per-request output side shared by the single-request Generator and the batching Scheduler:
// the request's sampling state, logprobs, the stop rules, and the result.
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "engine/generation_result.h"
#include "engine/generator.h"
#include "engine/sampling.h"
#include "engine/stop.h"
#include "ops/sample.h"

namespace glimpse::engine {

class TokenStream {
 public:
  TokenStream(const io::Tokenizer& tokenizer, const GenerationParams& params,
              std::span<const int32_t> prompt_ids, int64_t vocab_size, StopConditions stop);

  // This step's row for ops::sample_rows (Sampler::next_row, with the logprobs asked for); valid
  // until the next accept().
  ops::SampleRow sample_row() { return sampler_.next_row(); }
  // Whether the argmax of the logits is this stream's whole pick (greedy, no penalties, no
  // logprobs), so a step of such streams may take ops::argmax_rows.
  bool argmax_suffices() const {
    return sampler_.argmax_suffices() && !params_.sampling.logprobs.has_value();
  }
  // Records this step's pick and returns its event (whose logprobs pointer stays valid until the
  // next call): `logprobs` must be given exactly when the request asked for them.
  TokenEvent accept(int32_t token, std::optional<TokenLogprobs> logprobs);
  bool finished() const { return finished_; }
  GenerationResult& result() { return result_; }

 private:
  GenerationParams params_;
  Sampler sampler_;
  StopChecker stop_;
  GenerationResult result_;
  bool finished_ = false;
};

// Each stream's next token (and logprobs) from its row of `logits` (f32 [streams, vocab], on any
// device): ops::argmax_rows when that is every stream's whole pick, else ops::sample_rows. Only
// these small results leave the device. The streams still have to accept() them.
std::vector<ops::SampledToken> pick_tokens(const Tensor& logits,
                                           std::span<TokenStream* const> streams);

}  // namespace glimpse::engine
