// A request's sampling: its parameters (validated here), the tokens it has seen (for the
// penalties) and its RNG. The choice itself is ops::sample_rows (ops/sample.h), which holds the
// semantics: transformers' logits processors (repetition penalty, then temperature, top-k, top-p,
// min-p, in that order) plus the OpenAI presence / frequency penalties as vLLM defines them (over
// generated tokens only, applied with the repetition penalty, before temperature).
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

#include "ops/sample.h"

namespace glimpse::engine {

inline constexpr int kMaxTopLogprobs = ops::kMaxTopLogprobs;

struct SamplingParams {
  double temperature = 1.0;         // 0 (< 1e-5): greedy (argmax; ties: the lowest token id)
  int64_t top_k = 0;                // 0: off
  double top_p = 1.0;               // 1: off
  double min_p = 0.0;               // 0: off
  double repetition_penalty = 1.0;  // transformers': over prompt and generated tokens
  double presence_penalty = 0.0;    // OpenAI / vLLM: over generated tokens
  double frequency_penalty = 0.0;   // OpenAI / vLLM: over generated tokens, per occurrence
  std::optional<uint64_t> seed;     // none: seeded from std::random_device
  std::optional<int> logprobs;      // alternatives reported per token, 0..20; none: no logprobs

  bool greedy() const { return temperature < ops::kGreedyBelowTemperature || top_k == 1; }
};

// Throws Error(kInvalidArgument) naming the first field out of range.
void validate(const SamplingParams& params);

using ops::Candidate;
using ops::TokenLogprob;
using ops::TokenLogprobs;
using ops::cpu::compute_logprobs;

// Temperature, top-k, top-p and min-p over already penalised scores (ops::cpu::
// sampling_distribution with these parameters): the distribution sampling draws from, most likely
// first. Needs !params.greedy(). Exposed for tests.
std::vector<Candidate> sampling_distribution(std::span<const float> scores,
                                             const SamplingParams& params);

// Per-request sampling state: the tokens seen so far (for the penalties) and the RNG.
class Sampler {
 public:
  // `prompt_ids` feed the repetition penalty; every id must lie in [0, vocab_size).
  Sampler(const SamplingParams& params, std::span<const int32_t> prompt_ids, int64_t vocab_size);

  // This step's row for ops::sample_rows: the parameters, the seen tokens, and a fresh draw of the
  // RNG when the request samples (a greedy step draws nothing, as before the op existed, so a seed
  // gives the same tokens). Its spans stay valid until the next accept().
  ops::SampleRow next_row();
  // Records `token_id`, this step's pick, as generated.
  void accept(int32_t token_id);
  // One step over host logits (f32 [vocab_size]): next_row(), ops::cpu::sample_row, accept().
  int32_t sample(std::span<const float> logits);

  // Logits after the repetition / presence / frequency penalties, for what was seen so far.
  std::vector<float> penalized(std::span<const float> logits) const;

  // True when the pick is the plain argmax of the logits (greedy, no penalties), which whoever
  // holds the logits may compute (ops::argmax_rows) and hand to accept().
  bool argmax_suffices() const { return params_.greedy() && !has_penalties_; }

 private:
  ops::SampleRow row(double uniform) const;
  double uniform();  // [0, 1) from 53 random bits, identical on every platform

  SamplingParams params_;
  int64_t vocab_size_;
  bool has_penalties_;
  std::vector<int32_t> seen_at_;        // per token: its index in seen_ids_, or -1 (penalties only)
  std::vector<int32_t> seen_ids_;       // distinct ids of prompt and output (repetition penalty)
  std::vector<int32_t> output_counts_;  // parallel to seen_ids_: occurrences among generated
  std::mt19937_64 rng_;
};

}  // namespace glimpse::engine
