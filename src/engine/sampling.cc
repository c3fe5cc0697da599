#include "engine/sampling.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>

#include "core/error.h"

namespace glimpse::engine {
namespace {

// Larger score first; equal scores: lower id first (torch.argmax / topk take the first index).
bool ranks_before(float a_score, int32_t a_id, float b_score, int32_t b_id) {
  return a_score > b_score || (a_score == b_score && a_id < b_id);
}

// Scans over a whole vocabulary (151k logits) run once per sequence per step, so they are written
// for the vectoriser: kLanes independent accumulators, no dependent load per element.
constexpr size_t kLanes = 16;

// The first index of the largest score (torch.argmax); every score -inf gives 0.
int32_t argmax(std::span<const float> scores) {
  float lane[kLanes];
  std::fill(std::begin(lane), std::end(lane), -INFINITY);
  size_t i = 0;
  for (; i + kLanes <= scores.size(); i += kLanes)
    for (size_t j = 0; j < kLanes; ++j) lane[j] = scores[i + j] > lane[j] ? scores[i + j] : lane[j];
  float best = -INFINITY;
  for (const float l : lane) best = l > best ? l : best;
  for (; i < scores.size(); ++i) best = scores[i] > best ? scores[i] : best;
  for (size_t k = 0; k < scores.size(); ++k)
    if (scores[k] == best) return int32_t(k);
  return 0;
}

// The position of the first NaN, or -1. x - x is NaN exactly for NaN and ±inf, so one summing pass
// clears the usual case; the exact scan runs only after a non-finite value.
int64_t first_nan(std::span<const float> scores) {
  float lane[kLanes] = {};
  size_t i = 0;
  for (; i + kLanes <= scores.size(); i += kLanes)
    for (size_t j = 0; j < kLanes; ++j) lane[j] += scores[i + j] - scores[i + j];
  float total = 0;
  for (const float l : lane) total += l;
  for (; i < scores.size(); ++i) total += scores[i] - scores[i];
  if (!std::isnan(total)) return -1;
  for (size_t k = 0; k < scores.size(); ++k)
    if (std::isnan(scores[k])) return int64_t(k);
  return -1;
}

void check_range(bool ok, const char* field, double value, const char* range) {
  if (!ok)
    fail(ErrorKind::kInvalidArgument, "sampling: {} = {} is outside {}", field, value, range);
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

TokenLogprobs compute_logprobs(std::span<const float> logits, int32_t chosen, int top_count) {
  GLIMPSE_ASSERT(!logits.empty() && chosen >= 0 && chosen < int64_t(logits.size()));
  const int count = std::min<int>(top_count, int(logits.size()));
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  std::vector<TokenLogprob> top;  // kept sorted, at most `count` entries
  top.reserve(size_t(count) + 1);
  for (int32_t i = 0; i < int32_t(logits.size()); ++i) {
    sum += std::exp(double(logits[i]) - max_logit);
    if (count == 0) continue;
    if (int(top.size()) == count &&
        !ranks_before(logits[i], i, float(top.back().logprob), top.back().token_id))
      continue;
    auto at = std::find_if(top.begin(), top.end(), [&](const TokenLogprob& t) {
      return ranks_before(logits[i], i, float(t.logprob), t.token_id);
    });
    top.insert(at, TokenLogprob{i, logits[i]});  // logprob holds the logit until normalised
    if (int(top.size()) > count) top.pop_back();
  }
  const double log_z = max_logit + std::log(sum);
  for (auto& t : top) t.logprob -= log_z;
  return {TokenLogprob{chosen, double(logits[chosen]) - log_z}, std::move(top)};
}

std::vector<Candidate> sampling_distribution(std::span<const float> scores,
                                             const SamplingParams& params) {
  GLIMPSE_ASSERT(!params.greedy());
  struct Scored {
    int32_t id;
    float score;
  };
  std::vector<Scored> kept;
  kept.reserve(scores.size());
  const float inv_temperature = float(1.0 / params.temperature);
  for (int32_t i = 0; i < int32_t(scores.size()); ++i)
    if (scores[i] != -std::numeric_limits<float>::infinity())
      kept.push_back({i, scores[i] * inv_temperature});
  if (kept.empty()) fail(ErrorKind::kInternal, "sampling: every token was masked out");
  auto by_rank = [](const Scored& a, const Scored& b) {
    return ranks_before(a.score, a.id, b.score, b.id);
  };
  // by_rank orders best first, so its minimum is the highest score.
  auto top_score = [&] { return std::min_element(kept.begin(), kept.end(), by_rank)->score; };

  // top-k keeps every token tied with the k-th score, as transformers' TopKLogitsWarper does.
  if (params.top_k > 0 && params.top_k < int64_t(kept.size())) {
    std::vector<float> values(kept.size());
    std::transform(kept.begin(), kept.end(), values.begin(),
                   [](const Scored& s) { return s.score; });
    std::nth_element(values.begin(), values.begin() + (params.top_k - 1), values.end(),
                     std::greater<float>());
    const float threshold = values[size_t(params.top_k - 1)];
    std::erase_if(kept, [&](const Scored& s) { return s.score < threshold; });
  }

  // top-p: in descending order, keep each token while the mass ranked above it is < top_p.
  if (params.top_p < 1.0) {
    const float max_score = top_score();
    double total = 0;
    for (const auto& s : kept) total += std::exp(double(s.score) - max_score);
    // Sort only as long a prefix as the nucleus needs; grow it when the mass falls short.
    size_t sorted = std::min<size_t>(kept.size(), 64);
    for (;;) {
      std::partial_sort(kept.begin(), kept.begin() + ptrdiff_t(sorted), kept.end(), by_rank);
      double mass = 0;
      size_t keep = 0;
      while (keep < sorted && mass < params.top_p) {
        mass += std::exp(double(kept[keep].score) - max_score) / total;
        ++keep;
      }
      if (mass >= params.top_p || sorted == kept.size()) {
        kept.resize(std::max<size_t>(keep, 1));
        break;
      }
      sorted = std::min(kept.size(), sorted * 8);
    }
  }

  const float max_score = top_score();
  // min-p: drop tokens less likely than min_p times the most likely one.
  if (params.min_p > 0) {
    const double min_log_ratio = std::log(params.min_p);
    std::erase_if(kept,
                  [&](const Scored& s) { return double(s.score) - max_score < min_log_ratio; });
  }

  std::sort(kept.begin(), kept.end(), by_rank);
  std::vector<Candidate> out(kept.size());
  double total = 0;
  for (size_t i = 0; i < kept.size(); ++i) {
    out[i] = {kept[i].id, std::exp(double(kept[i].score) - max_score)};
    total += out[i].probability;
  }
  for (auto& c : out) c.probability /= total;
  return out;
}

Sampler::Sampler(const SamplingParams& params, std::span<const int32_t> prompt_ids,
                 int64_t vocab_size)
    : params_(params),
      vocab_size_(vocab_size),
      has_penalties_(params.repetition_penalty != 1.0 || params.presence_penalty != 0.0 ||
                     params.frequency_penalty != 0.0),
      rng_(params.seed ? *params.seed : std::random_device{}()) {
  validate(params);
  if (vocab_size <= 0) fail(ErrorKind::kInvalidArgument, "sampler: vocabulary size {}", vocab_size);
  if (!has_penalties_) return;
  seen_.assign(size_t(vocab_size), 0);
  output_counts_.assign(size_t(vocab_size), 0);
  for (size_t i = 0; i < prompt_ids.size(); ++i) {
    const int32_t id = prompt_ids[i];
    if (id < 0 || id >= vocab_size)
      fail(ErrorKind::kInvalidArgument, "sampler: prompt token {} (at {}) is outside [0, {})", id,
           i, vocab_size);
    if (!seen_[size_t(id)]) {
      seen_[size_t(id)] = 1;
      seen_ids_.push_back(id);
    }
  }
}

std::vector<float> Sampler::penalized(std::span<const float> logits) const {
  std::vector<float> scores(logits.begin(), logits.end());
  if (!has_penalties_) return scores;
  const auto repetition = float(params_.repetition_penalty);
  for (int32_t id : seen_ids_) {
    float& s = scores[size_t(id)];
    if (params_.repetition_penalty != 1.0) s = s < 0 ? s * repetition : s / repetition;
    if (const int32_t count = output_counts_[size_t(id)]; count > 0)
      s -= float(params_.frequency_penalty * count + params_.presence_penalty);
  }
  return scores;
}

int32_t Sampler::sample(std::span<const float> logits) {
  if (int64_t(logits.size()) != vocab_size_)
    fail(ErrorKind::kInternal, "sampler: {} logits for a vocabulary of {}", logits.size(),
         vocab_size_);
  if (const int64_t nan = first_nan(logits); nan >= 0)
    fail(ErrorKind::kInternal, "sampler: logit of token {} is NaN", nan);

  std::vector<float> scores;
  std::span<const float> view = logits;
  if (has_penalties_) {
    scores = penalized(logits);
    view = scores;
  }
  int32_t chosen;
  if (params_.greedy()) {
    chosen = argmax(view);
  } else {
    const auto candidates = sampling_distribution(view, params_);
    double u = uniform();
    chosen = candidates.back().token_id;  // if rounding leaves u past the last cumulative sum
    for (const auto& c : candidates) {
      if (u < c.probability) {
        chosen = c.token_id;
        break;
      }
      u -= c.probability;
    }
  }
  record(chosen);
  return chosen;
}

void Sampler::accept_argmax(int32_t token_id) {
  if (needs_logits())
    fail(ErrorKind::kInternal, "sampler: an argmax was handed to a sampler that needs logits");
  if (token_id < 0 || token_id >= vocab_size_)
    fail(ErrorKind::kInternal, "sampler: token {} is outside [0, {})", token_id, vocab_size_);
  record(token_id);
}

void Sampler::record(int32_t token_id) {
  if (!has_penalties_) return;
  if (!seen_[size_t(token_id)]) {
    seen_[size_t(token_id)] = 1;
    seen_ids_.push_back(token_id);
  }
  ++output_counts_[size_t(token_id)];
}

double Sampler::uniform() {
  return double(rng_() >> 11) * 0x1.0p-53;
}

}  // namespace glimpse::engine
