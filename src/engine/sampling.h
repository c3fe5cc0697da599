// Choosing the next token from the model's logits, with the semantics of transformers' logits
// processors (repetition penalty, then temperature, top-k, top-p, min-p, in that order) plus the
// OpenAI presence / frequency penalties as vLLM defines them (over generated tokens only,
// applied with the repetition penalty, before temperature).
//
// Logprobs are those of the raw model distribution (log-softmax of the logits before penalties
// and temperature), as vLLM v1 returns them by default ("raw_logprobs"): they describe the model,
// not the sampling settings, and greedy and sampled requests report the same numbers.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <vector>

namespace glimpse::engine {

inline constexpr int kMaxTopLogprobs = 20;

struct SamplingParams {
  double temperature = 1.0;         // 0: greedy (argmax; ties go to the lowest token id)
  int64_t top_k = 0;                // 0: off
  double top_p = 1.0;               // 1: off
  double min_p = 0.0;               // 0: off
  double repetition_penalty = 1.0;  // transformers': over prompt and generated tokens
  double presence_penalty = 0.0;    // OpenAI / vLLM: over generated tokens
  double frequency_penalty = 0.0;   // OpenAI / vLLM: over generated tokens, per occurrence
  std::optional<uint64_t> seed;     // none: seeded from std::random_device
  std::optional<int> logprobs;      // alternatives reported per token, 0..20; none: no logprobs

  bool greedy() const { return temperature == 0.0 || top_k == 1; }
};

// Throws Error(kInvalidArgument) naming the first field out of range.
void validate(const SamplingParams& params);

struct TokenLogprob {
  int32_t token_id = 0;
  double logprob = 0.0;
};

struct TokenLogprobs {
  TokenLogprob chosen;
  std::vector<TokenLogprob> top;  // most likely first; equal logprobs: lower id first
};

// Raw log-softmax of `logits` for `chosen` and the `top_count` most likely tokens.
TokenLogprobs compute_logprobs(std::span<const float> logits, int32_t chosen, int top_count);

// A token that survived the filters, with its probability under the final distribution.
struct Candidate {
  int32_t token_id = 0;
  double probability = 0.0;
};

// Temperature, top-k, top-p and min-p over already penalised scores: the distribution sampling
// draws from, most likely first. Needs !params.greedy(). Exposed for tests.
std::vector<Candidate> sampling_distribution(std::span<const float> scores,
                                             const SamplingParams& params);

// Per-request sampling state: the tokens seen so far (for the penalties) and the RNG.
class Sampler {
 public:
  // `prompt_ids` feed the repetition penalty; every id must lie in [0, vocab_size).
  Sampler(const SamplingParams& params, std::span<const int32_t> prompt_ids, int64_t vocab_size);

  // Picks the next token from `logits` (f32 [vocab_size]) and records it as generated.
  int32_t sample(std::span<const float> logits);

  // Logits after the repetition / presence / frequency penalties, for what was seen so far.
  std::vector<float> penalized(std::span<const float> logits) const;

  const SamplingParams& params() const { return params_; }
  // False when the pick is the plain argmax of the logits (greedy, no penalties), which whoever
  // holds the logits may compute and hand to accept_argmax().
  bool needs_logits() const { return !params_.greedy() || has_penalties_; }
  // Records `token_id`, the argmax of this step's logits, as sample() would have.
  void accept_argmax(int32_t token_id);

 private:
  void record(int32_t token_id);
  double uniform();  // [0, 1) from 53 random bits, identical on every platform

  SamplingParams params_;
  int64_t vocab_size_;
  bool has_penalties_;
  std::vector<uint8_t> seen_;           // token in prompt or output (repetition penalty)
  std::vector<int32_t> output_counts_;  // occurrences among generated tokens
  std::vector<int32_t> seen_ids_;       // distinct ids with seen_ set, to touch only those
  std::mt19937_64 rng_;
};

}  // namespace glimpse::engine
