#include <algorithm>
#include <cmath>
#include <exception>
#include <iterator>
#include <limits>

#include "core/thread_pool.h"
#include "ops/sample.h"

namespace glimpse::ops {
namespace {

// Larger score first; equal scores: lower id first (torch.argmax / topk take the first index).
bool ranks_before(float a_score, int32_t a_id, float b_score, int32_t b_id) {
  return a_score > b_score || (a_score == b_score && a_id < b_id);
}

// Scans over a whole vocabulary (151k logits) run once per row per step, so they are written for
// the vectoriser: kLanes independent accumulators, no dependent load per element.
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

void check_range(bool ok, int64_t row, const char* field, double value, const char* range) {
  if (!ok)
    fail(ErrorKind::kInvalidArgument, "sample_rows: row {}: {} = {} is outside {}", row, field,
         value, range);
}

void check_row(const SampleRow& p, int64_t row, int64_t vocab) {
  check_range(std::isfinite(p.temperature) && p.temperature >= 0, row, "temperature", p.temperature,
              "[0, inf)");
  check_range(p.top_k >= 0, row, "top_k", double(p.top_k), "[0, inf)");
  check_range(p.top_p > 0 && p.top_p <= 1, row, "top_p", p.top_p, "(0, 1]");
  check_range(p.min_p >= 0 && p.min_p <= 1, row, "min_p", p.min_p, "[0, 1]");
  check_range(std::isfinite(p.repetition_penalty) && p.repetition_penalty > 0, row,
              "repetition_penalty", p.repetition_penalty, "(0, inf)");
  check_range(std::isfinite(p.presence_penalty), row, "presence_penalty", p.presence_penalty,
              "the finite numbers");
  check_range(std::isfinite(p.frequency_penalty), row, "frequency_penalty", p.frequency_penalty,
              "the finite numbers");
  check_range(p.uniform >= 0 && p.uniform < 1, row, "uniform", p.uniform, "[0, 1)");
  check_range(p.top_logprobs >= -1 && p.top_logprobs <= kMaxTopLogprobs, row, "top_logprobs",
              p.top_logprobs, "[-1, 20]");
  if (p.output_counts.size() != p.seen_ids.size())
    fail(ErrorKind::kInvalidArgument, "sample_rows: row {}: {} output counts for {} seen ids", row,
         p.output_counts.size(), p.seen_ids.size());
  for (size_t j = 0; j < p.seen_ids.size(); ++j)
    if (p.seen_ids[j] < 0 || p.seen_ids[j] >= vocab || p.output_counts[j] < 0)
      fail(ErrorKind::kInvalidArgument,
           "sample_rows: row {}: seen token {} (count {}) is outside [0, {})", row, p.seen_ids[j],
           p.output_counts[j], vocab);
}

}  // namespace

void check_sample_input(const Tensor& logits, std::span<const SampleRow> rows) {
  check_f32(logits, "sample_rows", "logits");
  if (logits.dim() != 2 || logits.size(1) == 0)
    fail(ErrorKind::kInvalidArgument, "sample_rows: logits {} must be [rows, vocab > 0]",
         shape_string(logits.shape()));
  if (int64_t(rows.size()) != logits.size(0))
    fail(ErrorKind::kInvalidArgument, "sample_rows: {} sampling rows for {} rows of logits",
         rows.size(), logits.size(0));
  for (size_t r = 0; r < rows.size(); ++r) check_row(rows[r], int64_t(r), logits.size(1));
}

void fail_nan_logit(int64_t row, int64_t token) {
  fail(ErrorKind::kInternal, "sample_rows: row {} holds NaN (token {})", row, token);
}

void fail_all_masked(int64_t row) {
  fail(ErrorKind::kInternal, "sample_rows: row {}: every token was masked out", row);
}

void fail_infinite_score(int64_t row, int64_t token, float score) {
  fail(ErrorKind::kInternal,
       "sample_rows: row {}: token {} scores {} after temperature; no distribution to sample from",
       row, token, score > 0 ? "+inf" : "-inf");
}

namespace {

// The first of the highest unmasked scores × float(1 / temperature) (as sampling_distribution
// scales them), or token -1 when every score is masked.
struct TopScore {
  int64_t token = -1;
  float score = -INFINITY;
};
TopScore top_tempered_score(std::span<const float> scores, const SampleRow& row) {
  const float inv_temperature = float(1.0 / row.temperature);
  TopScore top;
  for (size_t k = 0; k < scores.size(); ++k) {
    if (scores[k] == -std::numeric_limits<float>::infinity()) continue;
    const float s = scores[k] * inv_temperature;
    if (top.token < 0 || s > top.score) top = {int64_t(k), s};
  }
  return top;
}

}  // namespace

namespace cpu {

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

std::vector<float> penalized(std::span<const float> logits, const SampleRow& row) {
  std::vector<float> scores(logits.begin(), logits.end());
  if (!row.has_penalties()) return scores;
  const auto repetition = float(row.repetition_penalty);
  for (size_t j = 0; j < row.seen_ids.size(); ++j) {
    float& s = scores[size_t(row.seen_ids[j])];
    if (row.repetition_penalty != 1.0) s = s < 0 ? s * repetition : s / repetition;
    s -= penalty_subtrahend(row, j);  // 0 for tokens seen only in the prompt
  }
  return scores;
}

std::vector<Candidate> sampling_distribution(std::span<const float> scores, const SampleRow& row) {
  GLIMPSE_ASSERT(!row.greedy());
  struct Scored {
    int32_t id;
    float score;
  };
  std::vector<Scored> kept;
  kept.reserve(scores.size());
  const float inv_temperature = float(1.0 / row.temperature);
  for (int32_t i = 0; i < int32_t(scores.size()); ++i)
    if (scores[i] != -std::numeric_limits<float>::infinity())
      kept.push_back({i, scores[i] * inv_temperature});
  if (kept.empty()) return {};
  auto by_rank = [](const Scored& a, const Scored& b) {
    return ranks_before(a.score, a.id, b.score, b.id);
  };
  // by_rank orders best first, so its minimum is the highest score.
  auto top_score = [&] { return std::min_element(kept.begin(), kept.end(), by_rank)->score; };

  // top-k keeps every token tied with the k-th score, as transformers' TopKLogitsWarper does.
  if (row.top_k > 0 && row.top_k < int64_t(kept.size())) {
    std::vector<float> values(kept.size());
    std::transform(kept.begin(), kept.end(), values.begin(),
                   [](const Scored& s) { return s.score; });
    std::nth_element(values.begin(), values.begin() + (row.top_k - 1), values.end(),
                     std::greater<float>());
    const float threshold = values[size_t(row.top_k - 1)];
    std::erase_if(kept, [&](const Scored& s) { return s.score < threshold; });
  }

  // top-p: in descending order, keep each token while the mass ranked above it is < top_p.
  if (row.top_p < 1.0) {
    const float max_score = top_score();
    double total = 0;
    for (const auto& s : kept) total += std::exp(double(s.score) - max_score);
    // Sort only as long a prefix as the nucleus needs; grow it when the mass falls short.
    size_t sorted = std::min<size_t>(kept.size(), 64);
    for (;;) {
      std::partial_sort(kept.begin(), kept.begin() + ptrdiff_t(sorted), kept.end(), by_rank);
      double mass = 0;
      size_t keep = 0;
      while (keep < sorted && mass < row.top_p) {
        mass += std::exp(double(kept[keep].score) - max_score) / total;
        ++keep;
      }
      if (mass >= row.top_p || sorted == kept.size()) {
        kept.resize(std::max<size_t>(keep, 1));
        break;
      }
      sorted = std::min(kept.size(), sorted * 8);
    }
  }

  const float max_score = top_score();
  // min-p: drop tokens less likely than min_p times the most likely one.
  if (row.min_p > 0) {
    const double min_log_ratio = std::log(row.min_p);
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

SampledToken sample_row(std::span<const float> logits, const SampleRow& row, int64_t row_index) {
  if (const int64_t nan = first_nan(logits); nan >= 0) fail_nan_logit(row_index, nan);
  std::vector<float> scores;
  std::span<const float> view = logits;
  if (row.has_penalties()) {
    scores = penalized(logits, row);
    view = scores;
  }
  SampledToken out;
  if (row.greedy()) {
    out.token_id = argmax(view);
  } else {
    if (const TopScore top = top_tempered_score(view, row); top.token >= 0 && std::isinf(top.score))
      fail_infinite_score(row_index, top.token, top.score);
    const auto candidates = sampling_distribution(view, row);
    if (candidates.empty()) fail_all_masked(row_index);
    double u = row.uniform;
    out.token_id = candidates.back().token_id;  // if rounding leaves u past the last cumulative sum
    for (const auto& c : candidates) {
      if (u < c.probability) {
        out.token_id = c.token_id;
        break;
      }
      u -= c.probability;
    }
  }
  if (row.top_logprobs >= 0)
    out.logprobs = compute_logprobs(logits, out.token_id, row.top_logprobs);
  return out;
}

// Rows in parallel, each a few scans of its vocabulary; the first failing row's error is thrown.
std::vector<SampledToken> sample_rows(const Tensor& logits, std::span<const SampleRow> rows) {
  check_sample_input(logits, rows);
  const auto vocab = size_t(logits.size(1));
  std::vector<SampledToken> out(rows.size());
  std::vector<std::exception_ptr> errors(rows.size());
  ThreadPool::global().parallel_for(int64_t(rows.size()), 1, [&](int64_t begin, int64_t end) {
    for (auto r = size_t(begin); r < size_t(end); ++r) try {
        out[r] = sample_row({logits.data<float>() + r * vocab, vocab}, rows[r], int64_t(r));
      } catch (...) {
        errors[r] = std::current_exception();
      }
  });
  for (const auto& error : errors)
    if (error) std::rethrow_exception(error);
  return out;
}

}  // namespace cpu
}  // namespace glimpse::ops
