#include "engine/sampling.h"

#include <cmath>

#include "core/error.h"

namespace glimpse::engine {
namespace {

void check_range(bool ok, const char* field, double value, const char* range) {
  if (!ok)
    fail(ErrorKind::kInvalidArgument, "sampling: {} = {} is outside {}", field, value, range);
}

// The op's row for `params`, before the request's seen tokens and draw are filled in.
ops::SampleRow row_of(const SamplingParams& params) {
  return {.temperature = params.temperature,
          .top_k = params.top_k,
          .top_p = params.top_p,
          .min_p = params.min_p,
          .repetition_penalty = params.repetition_penalty,
          .presence_penalty = params.presence_penalty,
          .frequency_penalty = params.frequency_penalty,
          .top_logprobs = params.logprobs.value_or(-1)};
}

}  // namespace

void validate(const SamplingParams& p) {
  check_range(std::isfinite(p.temperature) && p.temperature >= 0, "temperature", p.temperature,
              "[0, inf)");
  check_range(p.top_k >= 0, "top_k", double(p.top_k), "[0, inf) (0: off)");
  check_range(p.top_p > 0 && p.top_p <= 1, "top_p", p.top_p, "(0, 1]");
  check_range(p.min_p >= 0 && p.min_p <= 1, "min_p", p.min_p, "[0, 1]");
  check_range(std::isfinite(p.repetition_penalty) && p.repetition_penalty > 0, "repetition_penalty",
              p.repetition_penalty, "(0, inf)");
  check_range(p.presence_penalty >= -2 && p.presence_penalty <= 2, "presence_penalty",
              p.presence_penalty, "[-2, 2]");
  check_range(p.frequency_penalty >= -2 && p.frequency_penalty <= 2, "frequency_penalty",
              p.frequency_penalty, "[-2, 2]");
  if (p.logprobs)
    check_range(*p.logprobs >= 0 && *p.logprobs <= kMaxTopLogprobs, "logprobs", *p.logprobs,
                "[0, 20]");
}

std::vector<Candidate> sampling_distribution(std::span<const float> scores,
                                             const SamplingParams& params) {
  return ops::cpu::sampling_distribution(scores, row_of(params));
}

Sampler::Sampler(const SamplingParams& params, std::span<const int32_t> prompt_ids,
                 int64_t vocab_size)
    : params_(params),
      vocab_size_(vocab_size),
      has_penalties_(row_of(params).has_penalties()),
      rng_(params.seed ? *params.seed : std::random_device{}()) {
  validate(params);
  if (vocab_size <= 0) fail(ErrorKind::kInvalidArgument, "sampler: vocabulary size {}", vocab_size);
  if (!has_penalties_) return;
  seen_at_.assign(size_t(vocab_size), -1);
  for (size_t i = 0; i < prompt_ids.size(); ++i) {
    const int32_t id = prompt_ids[i];
    if (id < 0 || id >= vocab_size)
      fail(ErrorKind::kInvalidArgument, "sampler: prompt token {} (at {}) is outside [0, {})", id,
           i, vocab_size);
    if (seen_at_[size_t(id)] < 0) {
      seen_at_[size_t(id)] = int32_t(seen_ids_.size());
      seen_ids_.push_back(id);
      output_counts_.push_back(0);
    }
  }
}

ops::SampleRow Sampler::row(double uniform) const {
  ops::SampleRow row = row_of(params_);
  row.seen_ids = seen_ids_;
  row.output_counts = output_counts_;
  row.uniform = uniform;
  return row;
}

ops::SampleRow Sampler::next_row() {
  return row(params_.greedy() ? 0.0 : uniform());
}

std::vector<float> Sampler::penalized(std::span<const float> logits) const {
  return ops::cpu::penalized(logits, row(0.0));
}

int32_t Sampler::sample(std::span<const float> logits) {
  if (int64_t(logits.size()) != vocab_size_)
    fail(ErrorKind::kInternal, "sampler: {} logits for a vocabulary of {}", logits.size(),
         vocab_size_);
  ops::SampleRow step = next_row();
  step.top_logprobs = -1;  // only the token is wanted here
  const int32_t chosen = ops::cpu::sample_row(logits, step, 0).token_id;
  accept(chosen);
  return chosen;
}

void Sampler::accept(int32_t token_id) {
  if (token_id < 0 || token_id >= vocab_size_)
    fail(ErrorKind::kInternal, "sampler: token {} is outside [0, {})", token_id, vocab_size_);
  if (!has_penalties_) return;
  int32_t& at = seen_at_[size_t(token_id)];
  if (at < 0) {
    at = int32_t(seen_ids_.size());
    seen_ids_.push_back(token_id);
    output_counts_.push_back(0);
  }
  ++output_counts_[size_t(at)];
}

double Sampler::uniform() {
  return double(rng_() >> 11) * 0x1.0p-53;
}

}  // namespace glimpse::engine
