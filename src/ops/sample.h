// Choosing each row's next token from a step's logits, where the logits live, so a serving step
// downloads a few numbers per sequence instead of whole vocabularies. Semantics are transformers'
// logits processors (repetition penalty, then temperature, top-k, top-p, min-p, in that order) plus
// the OpenAI presence / frequency penalties as vLLM defines them (over generated tokens only,
// applied with the repetition penalty, before temperature). Ties go to the lower token id
// everywhere (torch.argmax / topk take the first index).
//
// Logprobs are those of the raw model distribution (log-softmax of the logits before penalties
// and temperature), as vLLM v1 returns them by default ("raw_logprobs").
//
// The CPU op is the reference; the CUDA op makes the same decisions (the same filters keep the same
// tokens, the same token is picked) except when a row's draw lies within rounding (~1e-12) of the
// boundary between two tokens' cumulative masses.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "ops/dispatch.h"

namespace glimpse::ops {

inline constexpr int kMaxTopLogprobs = 20;

// A temperature below this samples greedily, as vLLM does: the draw could differ from the argmax
// only between logits within ~1e-4 of each other, and 1/T soon makes the scores overflow (at
// T = 1e-40 every finite logit becomes ±inf and the masses NaN).
inline constexpr double kGreedyBelowTemperature = 1e-5;

// How one row of logits is sampled. The engine validates the ranges per request; the op checks
// them again (Error(kInvalidArgument) naming the row).
struct SampleRow {
  double temperature = 1.0;                // < kGreedyBelowTemperature: greedy
  int64_t top_k = 0;                       // 0: off; 1: greedy
  double top_p = 1.0;                      // (0, 1]; 1: off
  double min_p = 0.0;                      // [0, 1]; 0: off
  double repetition_penalty = 1.0;         // transformers': over seen_ids
  double presence_penalty = 0.0;           // vLLM: over seen ids with output_counts > 0
  double frequency_penalty = 0.0;          // vLLM: per occurrence among generated tokens
  std::span<const int32_t> seen_ids;       // distinct tokens of prompt + output, in [0, vocab)
  std::span<const int32_t> output_counts;  // parallel to seen_ids: occurrences among generated
  double uniform = 0.0;                    // this step's draw in [0, 1) (unused when greedy)
  int top_logprobs = -1;                   // -1: no logprobs; 0..20: alternatives reported

  bool greedy() const { return temperature < kGreedyBelowTemperature || top_k == 1; }
  bool has_penalties() const {
    return repetition_penalty != 1.0 || presence_penalty != 0.0 || frequency_penalty != 0.0;
  }
};

struct TokenLogprob {
  int32_t token_id = 0;
  double logprob = 0.0;
};

struct TokenLogprobs {
  TokenLogprob chosen;
  std::vector<TokenLogprob> top;  // most likely first; equal logprobs: lower id first
};

struct SampledToken {
  int32_t token_id = 0;
  std::optional<TokenLogprobs> logprobs;  // when the row asked (top_logprobs >= 0)
};

// A token that survived the filters, with its probability under the final distribution.
struct Candidate {
  int32_t token_id = 0;
  double probability = 0.0;
};

// The input checks both variants share: logits f32 [rows, vocab > 0], one SampleRow per row with
// parameters in range and seen ids inside the vocabulary.
void check_sample_input(const Tensor& logits, std::span<const SampleRow> rows);

// What the presence and frequency penalties subtract from the logit of row.seen_ids[j]: nothing
// unless the token was generated. Both variants take it from here, so they subtract the same float.
inline float penalty_subtrahend(const SampleRow& row, size_t j) {
  const int32_t count = row.output_counts[j];
  return count > 0 ? float(row.frequency_penalty * count + row.presence_penalty) : 0.0f;
}

// The errors both variants report (Error(kInternal)).
[[noreturn]] void fail_nan_logit(int64_t row, int64_t token);
[[noreturn]] void fail_all_masked(int64_t row);
// A sampled row whose highest tempered score is ±inf (an infinite logit, or a huge one over a tiny
// temperature): exp(s − max) would be NaN, so there is no distribution to draw from.
[[noreturn]] void fail_infinite_score(int64_t row, int64_t token, float score);

namespace cpu {
std::vector<SampledToken> sample_rows(const Tensor& logits, std::span<const SampleRow> rows);

// The pieces of the reference, one row at a time (for the engine's host-side Sampler and tests).
// `row_index` only names the row in errors.
SampledToken sample_row(std::span<const float> logits, const SampleRow& row, int64_t row_index);
// Logits after the repetition / presence / frequency penalties of `row`.
std::vector<float> penalized(std::span<const float> logits, const SampleRow& row);
// Temperature, top-k, top-p and min-p over already penalised scores: the distribution sampling
// draws from, most likely first; empty when every score is -inf. Needs !row.greedy().
std::vector<Candidate> sampling_distribution(std::span<const float> scores, const SampleRow& row);
// Raw log-softmax of `logits` for `chosen` and the `top_count` most likely tokens.
TokenLogprobs compute_logprobs(std::span<const float> logits, int32_t chosen, int top_count);
}  // namespace cpu
namespace cuda {
std::vector<SampledToken> sample_rows(const Tensor& logits, std::span<const SampleRow> rows);
}

// logits: f32 [rows, vocab], rows.size() of them. Returns, on the host, each row's token (and its
// logprobs when asked). A row holding NaN throws Error(kInternal) naming the row and token; so does
// a sampled (not greedy) row whose every logit is -inf, or whose highest tempered score is ±inf.
// Greedy rows take the first maximum of the penalised logits (token 0 when all are -inf).
inline std::vector<SampledToken> sample_rows(const Tensor& logits,
                                             std::span<const SampleRow> rows) {
  GLIMPSE_OPS_DISPATCH(logits, sample_rows, logits, rows);
}

}  // namespace glimpse::ops
