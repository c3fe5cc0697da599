// cuda::sample_rows against cpu::sample_rows (the reference) on fresh random rows: vocabularies of
// 7, 1000 and 151,552 tokens, 1, 3 and 33 rows, each row with its own parameters (greedy,
// temperature only, top-k up to past the vocabulary, top-p, min-p, all of them, penalties over
// random seen ids and counts, 0 / 5 / 20 logprobs), logits rounded to bf16 or to halves so that
// ties abound, some tokens masked with -inf. Part of ops_cuda_test; the same seed rules
// (GLIMPSE_SEED replays a run) and NaN-poisoned allocator blocks.
//
// Tokens must be identical on every row. Both ops make the same discrete decisions by
// construction: the scores are the same floats (the kernel's float steps cannot be contracted into
// FMAs), both rank by (score descending, id ascending), top-k and min-p compare those exact
// values, and only top-p and the draw compare sums of exp() in double that differ by summation
// order and exp's last bit (~1e-13 relative). top_p and u are drawn from continuous
// distributions, so a run lands within that of a boundary with probability ~1e-8: any difference
// is a bug. Logprobs (raw log-softmax, double) agree to 1e-9 absolute for the same reason.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <ostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "ops/argmax.h"
#include "ops/sample.h"
#include "ops/sample_kernels_cuda.h"

namespace glimpse::ops {
namespace {

using namespace cuda_testing;

constexpr double kLogprobTolerance = 1e-9;

// Random logits N(0, 3²) rounded to bf16 (ties), or when `coarse` to multiples of 0.5 (ties
// everywhere, so the top-k and top-p cuts fall inside runs of equal scores), `masked_fraction` of
// them -inf.
Tensor random_logits(int64_t rows, int64_t vocab, bool coarse, double masked_fraction) {
  Tensor logits = random_host({rows, vocab}, 3.0f);
  std::bernoulli_distribution masked(masked_fraction);
  float* data = logits.data<float>();
  for (int64_t i = 0; i < logits.numel(); ++i)
    data[i] = masked(rng()) ? -INFINITY
              : coarse      ? std::round(data[i] * 2) / 2
                            : bf16_to_f32(f32_to_bf16(data[i]));
  return logits;
}

// A row's parameters and the seen tokens its spans point at.
struct RowCase {
  SampleRow row;
  std::vector<int32_t> seen, counts;
};

double uniform(double low, double high) {
  return std::uniform_real_distribution<double>(low, high)(rng());
}

// One of: greedy, greedy by top_k = 1, temperature only, top-k (k log-uniform in [2, twice the
// vocabulary]), top-p, min-p, all together; penalties on about half the rows; some logprobs.
void randomise(RowCase& c, int64_t vocab) {
  SampleRow& row = c.row;
  row = SampleRow{};
  const int kind = int(rng()() % 7);
  row.temperature = kind == 0 ? 0.0 : std::exp(uniform(std::log(0.05), std::log(2.0)));
  if (kind == 1) row.top_k = 1;
  if (kind == 3 || kind == 6)
    row.top_k = int64_t(std::exp(uniform(std::log(2.0), std::log(2.0 * double(vocab)))));
  if (kind == 4 || kind == 6) row.top_p = uniform(0.05, 0.999);
  if (kind == 5 || kind == 6) row.min_p = uniform(0.001, 0.5);
  row.uniform = uniform(0.0, 1.0);
  const int logprobs[] = {-1, -1, 0, 5, 20};
  row.top_logprobs = logprobs[rng()() % 5];
  c.seen.clear();
  c.counts.clear();
  if (rng()() % 2) {
    row.repetition_penalty = uniform(0.5, 2.0);
    row.presence_penalty = uniform(-2.0, 2.0);
    row.frequency_penalty = uniform(-2.0, 2.0);
    std::vector<int32_t> ids(static_cast<size_t>(vocab));
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), rng());
    c.seen.assign(ids.begin(), ids.begin() + std::min<int64_t>(vocab, 1 + rng()() % 300));
    for (size_t j = 0; j < c.seen.size(); ++j) c.counts.push_back(int32_t(rng()() % 4));
  }
  row.seen_ids = c.seen;
  row.output_counts = c.counts;
}

std::string describe(const SampleRow& r) {
  std::ostringstream os;
  os << "temperature " << r.temperature << " top_k " << r.top_k << " top_p " << r.top_p << " min_p "
     << r.min_p << " repetition " << r.repetition_penalty << " presence " << r.presence_penalty
     << " frequency " << r.frequency_penalty << " seen " << r.seen_ids.size() << " u " << r.uniform
     << " logprobs " << r.top_logprobs;
  return os.str();
}

std::vector<SampleRow> rows_of(const std::vector<RowCase>& cases) {
  std::vector<SampleRow> rows;
  for (const auto& c : cases) rows.push_back(c.row);
  return rows;
}

// Leaves NaN-filled allocator blocks of the sizes the op takes for its buffers.
void poison_sample_buffers(int64_t rows, int64_t logprob_rows, int64_t vocab) {
  poison_outputs(size_t(2 * rows * vocab) * sizeof(uint64_t));
  poison_outputs(size_t(2 * rows * vocab) * sizeof(int32_t));
  poison_outputs(size_t(2 * logprob_rows * vocab) * sizeof(uint64_t));
  poison_outputs(size_t(2 * logprob_rows * vocab) * sizeof(int32_t));
  poison_outputs(size_t(rows) * sizeof(cuda_kernels::SampleResult));
}

// Within kLogprobTolerance; a masked token's -inf must be -inf (their difference is NaN).
void expect_logprob(double got, double expected) {
  if (std::isinf(expected))
    EXPECT_EQ(got, expected);
  else
    EXPECT_NEAR(got, expected, kLogprobTolerance);
}

void expect_same_picks(const Tensor& logits, const std::vector<SampleRow>& rows) {
  SCOPED_TRACE(::testing::Message() << "seed " << run_seed() << " (GLIMPSE_SEED replays it)");
  const auto expected = cpu::sample_rows(logits, rows);
  const auto logprob_rows = std::count_if(rows.begin(), rows.end(),
                                          [](const SampleRow& r) { return r.top_logprobs >= 0; });
  poison_sample_buffers(logits.size(0), logprob_rows, logits.size(1));
  const auto got = sample_rows(gpu(logits), rows);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    SCOPED_TRACE(::testing::Message() << "row " << r << ": " << describe(rows[r]));
    EXPECT_EQ(got[r].token_id, expected[r].token_id);
    ASSERT_EQ(got[r].logprobs.has_value(), expected[r].logprobs.has_value());
    if (!expected[r].logprobs) continue;
    const TokenLogprobs &g = *got[r].logprobs, &e = *expected[r].logprobs;
    EXPECT_EQ(g.chosen.token_id, e.chosen.token_id);
    expect_logprob(g.chosen.logprob, e.chosen.logprob);
    ASSERT_EQ(g.top.size(), e.top.size());
    for (size_t k = 0; k < e.top.size(); ++k) {
      SCOPED_TRACE(::testing::Message() << "alternative " << k);
      EXPECT_EQ(g.top[k].token_id, e.top[k].token_id);
      expect_logprob(g.top[k].logprob, e.top[k].logprob);
    }
  }
}

struct Shape2 {
  int64_t rows, vocab;
};

void PrintTo(const Shape2& s, std::ostream* os) {
  *os << s.rows << "_rows_of_" << s.vocab;
}

class SampleCuda : public ::testing::TestWithParam<Shape2> {};

TEST_P(SampleCuda, MatchesCpuOnRandomRows) {
  const Shape2 s = GetParam();
  // Small vocabularies are cheap: more draws of parameters there.
  const int trials = s.vocab < 10000 ? 16 : 4;
  for (int t = 0; t < trials; ++t) {
    Tensor logits = random_logits(s.rows, s.vocab, t % 4 < 2, t % 2 ? 0.05 : 0.0);
    std::vector<RowCase> cases(size_t(s.rows));
    for (auto& c : cases) randomise(c, s.vocab);
    expect_same_picks(logits, rows_of(cases));
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, SampleCuda,
                         ::testing::Values(Shape2{1, 7}, Shape2{3, 7}, Shape2{33, 7},
                                           Shape2{1, 1000}, Shape2{3, 1000}, Shape2{33, 1000},
                                           Shape2{1, 151552}, Shape2{3, 151552},
                                           Shape2{33, 151552}));

TEST(SampleCudaRows, SignedZerosTieLikeEqualScores) {
  // -0 and +0 are equal scores: ranked by id, so u = 0.35 picks the 4th of 10 equal tokens.
  std::vector<float> values(10);
  for (size_t i = 0; i < values.size(); ++i) values[i] = i % 2 ? 0.0f : -0.0f;
  const Tensor logits = Tensor::from_vector(values, {1, 10});
  SampleRow row;
  row.uniform = 0.35;
  row.top_logprobs = 3;
  expect_same_picks(logits, {row});
  EXPECT_EQ(cpu::sample_rows(logits, std::vector<SampleRow>{row})[0].token_id, 3);
  row.top_k = 4;  // the 4th score ties with all: nothing is dropped
  expect_same_picks(logits, {row});
}

TEST(SampleCudaRows, GreedyRowsWithPenaltiesTakeTheArgmaxOfThePenalisedLogits) {
  constexpr int64_t kRows = 5, kVocab = 151552;
  const Tensor logits = random_logits(kRows, kVocab, false, 0.0);
  std::vector<RowCase> cases(kRows);
  Tensor penalised = Tensor::empty({kRows, kVocab}, DType::kF32);
  for (int64_t r = 0; r < kRows; ++r) {
    RowCase& c = cases[size_t(r)];
    // Penalise the row's best 50 tokens, so the pick moves away from the raw argmax.
    std::vector<int32_t> order(kVocab);
    std::iota(order.begin(), order.end(), 0);
    const float* row = logits.data<float>() + r * kVocab;
    std::partial_sort(order.begin(), order.begin() + 50, order.end(),
                      [&](int32_t a, int32_t b) { return row[a] > row[b]; });
    c.seen.assign(order.begin(), order.begin() + 50);
    c.counts.assign(50, 1);
    c.row.temperature = 0.0;
    c.row.repetition_penalty = 1.5;
    c.row.presence_penalty = 1.0;
    c.row.seen_ids = c.seen;
    c.row.output_counts = c.counts;
    const auto scores = cpu::penalized({row, size_t(kVocab)}, c.row);
    std::copy(scores.begin(), scores.end(), penalised.data<float>() + r * kVocab);
  }
  const auto rows = rows_of(cases);
  const std::vector<int32_t> expected = cpu::argmax_rows(penalised);
  const auto got = sample_rows(gpu(logits), rows);
  for (int64_t r = 0; r < kRows; ++r) {
    EXPECT_EQ(got[size_t(r)].token_id, expected[size_t(r)]) << "row " << r;
    EXPECT_NE(got[size_t(r)].token_id, cases[size_t(r)].seen[0]) << "row " << r;
  }
}

// Both ops refuse `rows` with Error(kInternal, message).
void expect_error_on_both(const Tensor& logits, const std::vector<SampleRow>& rows,
                          const std::string& message) {
  for (const Tensor& input : {logits, gpu(logits)}) {
    SCOPED_TRACE(device_name(input.device()));
    try {
      sample_rows(input, rows);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInternal);
      EXPECT_EQ(e.what(), message);
    }
  }
}

TEST(SampleCudaRows, NanAndFullyMaskedRowsAreTheCpusErrors) {
  Tensor logits = random_logits(4, 1000, false, 0.0);
  logits.data<float>()[2 * 1000 + 77] = NAN;
  logits.data<float>()[2 * 1000 + 500] = NAN;
  logits.data<float>()[3 * 1000 + 5] = NAN;
  SampleRow sampled;
  sampled.uniform = 0.5;
  const std::vector<SampleRow> rows(4, sampled);
  expect_error_on_both(logits, rows, "sample_rows: row 2 holds NaN (token 77)");

  Tensor masked = random_logits(3, 1000, false, 0.0);
  std::fill_n(masked.data<float>() + 1000, 2000, -INFINITY);  // rows 1 and 2
  std::vector<SampleRow> mixed(3, sampled);
  mixed[1].temperature = 0.0;  // greedy: token 0, no error
  expect_error_on_both(masked, mixed, "sample_rows: row 2: every token was masked out");
  mixed[2].temperature = 0.0;
  expect_same_picks(masked, mixed);
  EXPECT_EQ(sample_rows(gpu(masked), mixed)[2].token_id, 0);
}

TEST(SampleCudaRows, InfiniteTopScoresAreTheCpusErrors) {
  Tensor logits = random_logits(3, 1000, false, 0.0);
  logits.data<float>()[1000 + 640] = INFINITY;
  logits.data<float>()[1000 + 900] = INFINITY;
  SampleRow sampled;
  sampled.uniform = 0.5;
  std::vector<SampleRow> rows(3, sampled);
  expect_error_on_both(logits, rows,
                       "sample_rows: row 1: token 640 scores +inf after temperature; no "
                       "distribution to sample from");
  rows[1].temperature = 0.0;  // greedy: the first +inf
  expect_same_picks(logits, rows);
  EXPECT_EQ(sample_rows(gpu(logits), rows)[1].token_id, 640);

  // Every kept logit overflowing to -inf under a small temperature.
  Tensor low = random_logits(2, 1000, false, 0.5);
  for (int64_t i = 1000; i < 2000; ++i)
    if (low.data<float>()[i] != -INFINITY) low.data<float>()[i] = -1e38f - float(i);
  std::vector<SampleRow> cold(2, sampled);
  cold[1].temperature = 1e-3;
  int64_t first_kept = 0;
  while (low.data<float>()[1000 + first_kept] == -INFINITY) ++first_kept;
  expect_error_on_both(low, cold,
                       "sample_rows: row 1: token " + std::to_string(first_kept) +
                           " scores -inf after temperature; no distribution to sample from");
}

}  // namespace
}  // namespace glimpse::ops
