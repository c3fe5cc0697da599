// The CPU sampling op, the reference of the CUDA one, on hand-worked rows: greedy ties and masks,
// each filter and its ties, penalties, the draw, raw logprobs, and the errors naming the row.
#include "ops/sample.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace glimpse::ops {
namespace {

// log(2) in float: masses exp(-k·ln2) are within 1e-7 of 2^-k.
const float kLn2 = std::log(2.0f);

SampleRow sampled(double temperature, double uniform) {
  SampleRow row;
  row.temperature = temperature;
  row.uniform = uniform;
  return row;
}

SampleRow greedy() {
  SampleRow row;
  row.temperature = 0.0;
  return row;
}

// One row through the batched op.
SampledToken sample_one(const std::vector<float>& logits, const SampleRow& row) {
  const std::vector<SampleRow> rows = {row};
  return sample_rows(Tensor::from_vector(logits, {1, int64_t(logits.size())}), rows)[0];
}

int32_t pick(const std::vector<float>& logits, const SampleRow& row) {
  return sample_one(logits, row).token_id;
}

std::vector<int32_t> ids_of(const std::vector<Candidate>& candidates) {
  std::vector<int32_t> ids;
  for (const auto& c : candidates) ids.push_back(c.token_id);
  return ids;
}

std::string error_of(const Tensor& logits, const std::vector<SampleRow>& rows) {
  try {
    sample_rows(logits, rows);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(SampleRows, GreedyTakesTheFirstMaximumAndZeroWhenAllAreMasked) {
  EXPECT_EQ(pick({1.0f, 4.0f, 2.0f, 4.0f}, greedy()), 1);
  EXPECT_EQ(pick({-INFINITY, -INFINITY, -INFINITY}, greedy()), 0);
  SampleRow top1 = sampled(0.5, 0.99);
  top1.top_k = 1;  // greedy whatever the temperature
  EXPECT_EQ(pick({1.0f, 4.0f, 2.0f, 4.0f}, top1), 1);
}

TEST(SampleRows, DrawWalksTheCumulativeMassInRankOrder) {
  // Four kept tokens of 0.25 each, ranked 0, 1, 3, 4 (ties by id); token 2 is masked.
  const std::vector<float> logits = {1.0f, 1.0f, -INFINITY, 1.0f, 1.0f};
  EXPECT_EQ(pick(logits, sampled(1.0, 0.0)), 0);
  EXPECT_EQ(pick(logits, sampled(1.0, 0.2499)), 0);
  EXPECT_EQ(pick(logits, sampled(1.0, 0.25)), 1);  // u < p is strict
  EXPECT_EQ(pick(logits, sampled(1.0, 0.6)), 3);
  EXPECT_EQ(pick(logits, sampled(1.0, 0.9999)), 4);
  // Most likely first: 0.75 for token 1, 0.25 for token 0 (logits ln 3 apart, temperature 1).
  const std::vector<float> two = {0.0f, std::log(3.0f)};
  EXPECT_EQ(pick(two, sampled(1.0, 0.74)), 1);
  EXPECT_EQ(pick(two, sampled(1.0, 0.76)), 0);
}

TEST(SampleRows, TemperatureScalesBeforeTheFilters) {
  // Masses 1, 1/2, 1/4, 1/8 at temperature 1; temperature 0.5 squares them: 1, 1/4, 1/16, 1/64.
  const std::vector<float> logits = {0.0f, -kLn2, -2 * kLn2, -3 * kLn2};
  SampleRow row = sampled(0.5, 0.0);
  const auto got = cpu::sampling_distribution(logits, row);
  ASSERT_EQ(ids_of(got), (std::vector<int32_t>{0, 1, 2, 3}));
  const double total = 1 + 1 / 4.0 + 1 / 16.0 + 1 / 64.0;
  EXPECT_NEAR(got[0].probability, 1 / total, 1e-6);
  EXPECT_NEAR(got[3].probability, 1 / 64.0 / total, 1e-6);
  // min-p 0.1 after temperature drops 1/16 and 1/64 (it would keep 1/8 at temperature 1).
  row.min_p = 0.1;
  EXPECT_EQ(ids_of(cpu::sampling_distribution(logits, row)), (std::vector<int32_t>{0, 1}));
  row.temperature = 1.0;
  EXPECT_EQ(ids_of(cpu::sampling_distribution(logits, row)), (std::vector<int32_t>{0, 1, 2, 3}));
}

TEST(SampleRows, TopKKeepsEveryTokenTiedWithTheKthScore) {
  const std::vector<float> logits = {3.0f, 2.0f, 1.0f, 2.0f, 0.0f};
  SampleRow row = sampled(1.0, 0.9999);
  row.top_k = 2;  // the 2nd score is 2, held by tokens 1 and 3
  EXPECT_EQ(ids_of(cpu::sampling_distribution(logits, row)), (std::vector<int32_t>{0, 1, 3}));
  EXPECT_EQ(pick(logits, row), 3);  // the last kept token, not 2 or 4
  row.top_k = 4;
  EXPECT_EQ(ids_of(cpu::sampling_distribution(logits, row)), (std::vector<int32_t>{0, 1, 3, 2}));
  row.top_k = 1000;  // past the vocabulary: off
  EXPECT_EQ(cpu::sampling_distribution(logits, row).size(), 5u);
}

TEST(SampleRows, TopPKeepsTokensWhileTheMassAboveIsBelowIt) {
  // Probabilities 1/2, 1/4, 1/8, 1/8.
  const std::vector<float> logits = {0.0f, -kLn2, -2 * kLn2, -2 * kLn2};
  SampleRow row = sampled(1.0, 0.9);
  row.top_p = 0.7;  // mass above token 2 is 0.75: tokens 0, 1 → 2/3, 1/3
  auto got = cpu::sampling_distribution(logits, row);
  ASSERT_EQ(ids_of(got), (std::vector<int32_t>{0, 1}));
  EXPECT_NEAR(got[0].probability, 2 / 3.0, 1e-6);
  EXPECT_EQ(pick(logits, row), 1);
  row.top_p = 0.8;  // tokens 0, 1, 2 → 4/7, 2/7, 1/7; u = 0.9 lands in token 2
  EXPECT_EQ(ids_of(cpu::sampling_distribution(logits, row)), (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(pick(logits, row), 2);
  row.top_p = 1e-9;  // always at least the most likely token
  EXPECT_EQ(ids_of(cpu::sampling_distribution(logits, row)), (std::vector<int32_t>{0}));
}

TEST(SampleRows, FiltersApplyInTransformersOrder) {
  // Probabilities 1/2, 1/4, 1/8, 1/16, 1/16 (before filters).
  const std::vector<float> logits = {0.0f, -kLn2, -2 * kLn2, -3 * kLn2, -3 * kLn2};
  SampleRow row = sampled(1.0, 0.0);
  row.top_k = 3;    // tokens 0, 1, 2: 4/7, 2/7, 1/7
  row.top_p = 0.8;  // over those: mass above token 2 is 6/7 ≥ 0.8, so tokens 0, 1
  row.min_p = 0.4;  // 1/2 of the top survives, so tokens 0, 1
  EXPECT_EQ(ids_of(cpu::sampling_distribution(logits, row)), (std::vector<int32_t>{0, 1}));
  row.min_p = 0.6;  // drops token 1 too
  EXPECT_EQ(ids_of(cpu::sampling_distribution(logits, row)), (std::vector<int32_t>{0}));
  row.min_p = 0.0;
  row.top_k = 0;  // top-p over all five: mass above token 2 is 3/4 < 0.8, above token 3 is 7/8
  EXPECT_EQ(ids_of(cpu::sampling_distribution(logits, row)), (std::vector<int32_t>{0, 1, 2}));
}

TEST(SampleRows, PenaltiesChangeOnlySeenTokensAndGreedyPicksAmongThem) {
  const std::vector<float> logits = {1.0f, -1.0f, 0.9f, 1.2f};
  const std::vector<int32_t> seen = {0, 1, 3}, counts = {0, 2, 1};  // token 0 only in the prompt
  SampleRow row = greedy();
  row.repetition_penalty = 2.0;
  row.presence_penalty = 0.5;
  row.frequency_penalty = 0.25;
  row.seen_ids = seen;
  row.output_counts = counts;
  const auto scores = cpu::penalized(logits, row);
  // Positive logits are divided, negative ones multiplied; generated ones lose 0.25·n + 0.5.
  EXPECT_FLOAT_EQ(scores[0], 0.5f);
  EXPECT_FLOAT_EQ(scores[1], -2.0f - 1.0f);
  EXPECT_FLOAT_EQ(scores[2], 0.9f);
  EXPECT_FLOAT_EQ(scores[3], 0.6f - 0.75f);
  EXPECT_EQ(pick(logits, row), 2);  // the raw argmax is 3
  // Without the penalties' parameters, the seen tokens change nothing.
  SampleRow plain = greedy();
  plain.seen_ids = seen;
  plain.output_counts = counts;
  EXPECT_EQ(cpu::penalized(logits, plain), logits);
  EXPECT_EQ(pick(logits, plain), 3);
}

TEST(SampleRows, LogprobsAreTheRawLogSoftmaxWithLowerIdsFirstAmongTies) {
  const std::vector<float> logits = {1.0f, -1.0f, 1.2f, 1.2f, 0.0f};
  double z = 0;
  for (const float l : logits) z += std::exp(double(l));
  const double log_z = std::log(z);
  // A penalised, tempered row still reports the raw model's numbers.
  const std::vector<int32_t> seen = {2, 3}, counts = {1, 1};
  SampleRow row = sampled(0.7, 0.0);
  row.repetition_penalty = 3.0;
  row.seen_ids = seen;
  row.output_counts = counts;
  row.top_logprobs = 3;
  const SampledToken got = sample_one(logits, row);
  EXPECT_EQ(got.token_id, 0);  // 1.2 / 3 < 1
  ASSERT_TRUE(got.logprobs.has_value());
  EXPECT_EQ(got.logprobs->chosen.token_id, 0);
  EXPECT_NEAR(got.logprobs->chosen.logprob, 1.0 - log_z, 1e-12);
  ASSERT_EQ(got.logprobs->top.size(), 3u);
  EXPECT_EQ(got.logprobs->top[0].token_id, 2);
  EXPECT_EQ(got.logprobs->top[1].token_id, 3);
  EXPECT_EQ(got.logprobs->top[2].token_id, 0);
  EXPECT_NEAR(got.logprobs->top[1].logprob, double(1.2f) - log_z, 1e-12);
  row.top_logprobs = 0;  // the chosen token alone
  EXPECT_TRUE(sample_one(logits, row).logprobs->top.empty());
  row.top_logprobs = 20;  // more than the vocabulary: all of it
  EXPECT_EQ(sample_one(logits, row).logprobs->top.size(), 5u);
  row.top_logprobs = -1;
  EXPECT_FALSE(sample_one(logits, row).logprobs.has_value());
}

TEST(SampleRows, RowsAreIndependent) {
  const Tensor logits = Tensor::from_vector({0.0f, 5.0f, 1.0f,        // greedy: 1
                                             2.0f, 2.0f, 2.0f,        // u = 0.5: token 1
                                             -INFINITY, 0.0f, 0.0f},  // u = 0.99: token 2
                                            {3, 3});
  const std::vector<SampleRow> rows = {greedy(), sampled(1.0, 0.5), sampled(3.0, 0.99)};
  const auto got = sample_rows(logits, rows);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].token_id, 1);
  EXPECT_EQ(got[1].token_id, 1);
  EXPECT_EQ(got[2].token_id, 2);
}

TEST(SampleRows, NanAndFullyMaskedRowsAreErrorsNamingTheFirstSuchRow) {
  Tensor logits = Tensor::from_vector({0, 1, 2, 3, 4, 5, 6, 7, 8}, {3, 3});
  logits.data<float>()[5] = NAN;
  logits.data<float>()[8] = NAN;
  const std::vector<SampleRow> rows = {greedy(), greedy(), sampled(1.0, 0.5)};
  EXPECT_EQ(error_of(logits, rows), "sample_rows: row 1 holds NaN (token 2)");
  const Tensor masked = Tensor::from_vector({1, 2, -INFINITY, -INFINITY}, {2, 2});
  const std::vector<SampleRow> two = {sampled(1.0, 0.5), sampled(1.0, 0.5)};
  EXPECT_EQ(error_of(masked, two), "sample_rows: row 1: every token was masked out");
  // A repetition penalty cannot unmask a -inf logit.
  const std::vector<int32_t> seen = {0}, counts = {0};
  std::vector<SampleRow> penalised = {sampled(1.0, 0.5), sampled(1.0, 0.5)};
  penalised[1].repetition_penalty = 2.0;
  penalised[1].seen_ids = seen;
  penalised[1].output_counts = counts;
  EXPECT_EQ(error_of(masked, penalised), "sample_rows: row 1: every token was masked out");
}

TEST(SampleRows, AnInfiniteTopScoreIsAnErrorForSampledRowsOnly) {
  // A +inf logit: nothing to draw from (exp(s - max) is NaN) but a plain maximum for greedy rows.
  const Tensor infinite = Tensor::from_vector({0, INFINITY, 1, INFINITY}, {1, 4});
  EXPECT_EQ(error_of(infinite, {sampled(1.0, 0.5)}),
            "sample_rows: row 0: token 1 scores +inf after temperature; no distribution to sample "
            "from");
  EXPECT_EQ(sample_rows(infinite, std::vector<SampleRow>{greedy()})[0].token_id, 1);
  // Finite logits that overflow under a small temperature, upwards and (every kept one) downwards.
  const Tensor huge = Tensor::from_vector({1e38f, 0, -INFINITY, -2e38f, -1e38f, -INFINITY}, {2, 3});
  EXPECT_EQ(error_of(huge, {sampled(1e-3, 0.5), sampled(1.0, 0.5)}),
            "sample_rows: row 0: token 0 scores +inf after temperature; no distribution to sample "
            "from");
  EXPECT_EQ(error_of(huge, {sampled(1.0, 0.5), sampled(1e-3, 0.5)}),
            "sample_rows: row 1: token 0 scores -inf after temperature; no distribution to sample "
            "from");
  EXPECT_EQ(
      sample_rows(huge, std::vector<SampleRow>{sampled(1.0, 0.5), sampled(1.0, 0.0)})[1].token_id,
      1);  // -1e38 ranks above -2e38 at temperature 1
}

TEST(SampleRows, BadInputIsAnInvalidArgumentNamingTheRow) {
  const Tensor logits = Tensor::from_vector({0, 1, 2, 3, 4, 5}, {2, 3});
  auto expect_invalid = [&](const std::vector<SampleRow>& rows, const std::string& part) {
    try {
      sample_rows(logits, rows);
      ADD_FAILURE() << part << ": no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expect_invalid({greedy()}, "1 sampling rows for 2 rows");
  const std::vector<int32_t> outside = {3}, one = {1}, two = {1, 1};
  std::vector<SampleRow> rows = {greedy(), greedy()};
  rows[1].seen_ids = outside;
  rows[1].output_counts = one;
  expect_invalid(rows, "row 1: seen token 3");
  rows[1].seen_ids = one;
  rows[1].output_counts = two;
  expect_invalid(rows, "row 1: 2 output counts for 1 seen ids");
  rows = {greedy(), greedy()};
  rows[0].top_p = 0.0;
  expect_invalid(rows, "row 0: top_p");
  rows = {greedy(), greedy()};
  rows[1].top_logprobs = 21;
  expect_invalid(rows, "row 1: top_logprobs");
  rows = {greedy(), sampled(1.0, 1.0)};
  expect_invalid(rows, "row 1: uniform");
  rows = {greedy(), sampled(-1.0, 0.5)};
  expect_invalid(rows, "row 1: temperature");
  const std::vector<SampleRow> one_row = {greedy()};
  EXPECT_THROW(sample_rows(Tensor::from_vector({1, 2}, {2}), one_row), Error);
  EXPECT_THROW(sample_rows(Tensor::empty({1, 2}, DType::kI32), one_row), Error);
}

}  // namespace
}  // namespace glimpse::ops
