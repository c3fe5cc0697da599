// The sampler against distributions computed by transformers 5.17's logits processors (values
// quoted below, to 7 decimals; checked to 1e-6) and hand-worked penalties.
#include "engine/sampling.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <vector>

#include "core/error.h"

namespace glimpse::engine {
namespace {

const std::vector<float> kLogits = {2.0f, 1.0f, 0.5f, -1.0f, 0.0f, 3.0f, 1.2f};
constexpr double kTolerance = 1e-6;

using Expected = std::map<int32_t, double>;

void expect_distribution(const SamplingParams& params, const Expected& expected) {
  const auto got = sampling_distribution(kLogits, params);
  ASSERT_EQ(got.size(), expected.size());
  double previous = 1.0;
  for (const auto& c : got) {
    ASSERT_TRUE(expected.count(c.token_id)) << "token " << c.token_id << " should be filtered";
    EXPECT_NEAR(c.probability, expected.at(c.token_id), kTolerance) << "token " << c.token_id;
    EXPECT_LE(c.probability, previous) << "candidates are most likely first";
    previous = c.probability;
  }
}

SamplingParams with(double temperature, int64_t top_k = 0, double top_p = 1.0, double min_p = 0.0) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = top_k;
  p.top_p = top_p;
  p.min_p = min_p;
  return p;
}

// Reference: TemperatureLogitsWarper(2.0).
TEST(SamplingDistribution, TemperatureOnly) {
  expect_distribution(with(2.0), {{0, 0.200443},
                                  {1, 0.1215749},
                                  {2, 0.0946826},
                                  {3, 0.0447249},
                                  {4, 0.0737389},
                                  {5, 0.3304747},
                                  {6, 0.134361}});
}

// Reference: TemperatureLogitsWarper(0.7), TopKLogitsWarper(3).
TEST(SamplingDistribution, TopK) {
  expect_distribution(with(0.7, 3), {{0, 0.182095}, {5, 0.7598338}, {6, 0.0580713}});
}

TEST(SamplingDistribution, TopKKeepsTiesWithTheKthScore) {
  const std::vector<float> logits = {1.0f, 2.0f, 2.0f, 0.0f};
  const auto got = sampling_distribution(logits, with(1.0, 2));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].token_id, 1);
  EXPECT_EQ(got[1].token_id, 2);
  EXPECT_NEAR(got[0].probability, 0.5, 1e-12);
  // k = 3 adds token 0.
  EXPECT_EQ(sampling_distribution(logits, with(1.0, 3)).size(), 3u);
}

// Reference: TopPLogitsWarper(0.8) and (0.9).
TEST(SamplingDistribution, TopP) {
  expect_distribution(with(1.0, 0, 0.8), {{0, 0.2399456}, {5, 0.6522399}, {6, 0.1078145}});
  expect_distribution(with(1.0, 0, 0.9),
                      {{0, 0.2204833}, {1, 0.0811113}, {5, 0.5993358}, {6, 0.0990696}});
}

TEST(SamplingDistribution, TopPAlwaysKeepsTheMostLikelyToken) {
  const auto got = sampling_distribution(kLogits, with(1.0, 0, 1e-9));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].token_id, 5);
  EXPECT_DOUBLE_EQ(got[0].probability, 1.0);
}

TEST(SamplingDistribution, TopPOverALargeFlatVocabularyGrowsTheSortedPrefix) {
  // 1000 equal tokens: the nucleus of 0.5 needs 500 of them, past the first sorted prefix.
  const std::vector<float> flat(1000, 0.25f);
  const auto got = sampling_distribution(flat, with(1.0, 0, 0.5));
  EXPECT_EQ(got.size(), 500u);
  EXPECT_EQ(got.front().token_id, 0);
  EXPECT_EQ(got.back().token_id, 499);
}

// Reference: TemperatureLogitsWarper(1.5), MinPLogitsWarper(0.2).
TEST(SamplingDistribution, MinPAfterTemperature) {
  expect_distribution(with(1.5, 0, 1.0, 0.2),
                      {{0, 0.2470479}, {1, 0.1268387}, {5, 0.4811837}, {6, 0.1449297}});
}

// Reference: Temperature(0.8), TopK(5), TopP(0.9), MinP(0.1), in transformers' order.
TEST(SamplingDistribution, AllFiltersInTransformersOrder) {
  expect_distribution(with(0.8, 5, 0.9, 0.1), {{0, 0.2058366}, {5, 0.7184404}, {6, 0.0757231}});
}

// Reference: RepetitionPenaltyLogitsProcessor(1.3) over ids [0, 3, 5, 5, 1].
TEST(Sampler, RepetitionPenaltyCoversPromptAndOutput) {
  SamplingParams p = with(0.0);
  p.repetition_penalty = 1.3;
  const std::vector<int32_t> prompt = {0, 3};
  Sampler sampler(p, prompt, int64_t(kLogits.size()));
  // Greedy picks 5 (3.0 / 1.3 still leads); then feed 5 and 1 as generated.
  EXPECT_EQ(sampler.sample(kLogits), 5);
  const std::vector<float> one_first = {0, 9, 0, 0, 0, 0, 0};
  EXPECT_EQ(sampler.sample(one_first), 1);
  const auto scores = sampler.penalized(kLogits);
  const std::vector<float> expected = {1.5384615659713745f,
                                       0.7692307829856873f,
                                       0.5f,
                                       -1.2999999523162842f,
                                       0.0f,
                                       2.307692289352417f,
                                       1.2f};
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_FLOAT_EQ(scores[i], expected[i]) << i;
}

// vLLM: logits -= frequency * count + presence * (count > 0), generated tokens only.
TEST(Sampler, PresenceAndFrequencyPenaltiesCountGeneratedTokensOnly) {
  SamplingParams p = with(0.0);
  p.presence_penalty = 0.5;
  p.frequency_penalty = 0.25;
  const std::vector<int32_t> prompt = {0, 2};
  Sampler sampler(p, prompt, int64_t(kLogits.size()));
  const std::vector<float> pick5 = {0, 0, 0, 0, 0, 9, 0}, pick1 = {0, 9, 0, 0, 0, 0, 0};
  sampler.sample(pick5);
  sampler.sample(pick5);
  sampler.sample(pick1);
  const auto scores = sampler.penalized(kLogits);
  const std::vector<float> expected = {2.0f, 1.0f - 0.25f - 0.5f, 0.5f, -1.0f,
                                       0.0f, 3.0f - 0.5f - 0.5f,  1.2f};
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_FLOAT_EQ(scores[i], expected[i]) << i;
}

TEST(Sampler, GreedyTakesTheLowestIdAmongTies) {
  Sampler sampler(with(0.0), {}, 4);
  const std::vector<float> tied = {1.0f, 4.0f, 2.0f, 4.0f};
  EXPECT_EQ(sampler.sample(tied), 1);
  SamplingParams top1 = with(1.0, 1);
  EXPECT_TRUE(top1.greedy());
}

// Below 1e-5 a temperature samples greedily (vLLM's rule): the argmax, lowest id among ties;
// 1e-40 would otherwise make every score infinite and the masses NaN.
TEST(Sampler, TinyTemperaturesAreGreedy) {
  for (const double t : {9e-6, 1e-40}) {
    SamplingParams tiny = with(t);
    tiny.seed = 7;
    ASSERT_TRUE(tiny.greedy()) << t;
    Sampler sampler(tiny, {}, 4);
    EXPECT_EQ(sampler.sample(std::vector<float>{1.0f, 4.0f, 2.0f, 4.0f}), 1) << t;
  }
  EXPECT_FALSE(with(1e-5).greedy());
}

std::vector<int32_t> draw(const SamplingParams& p, int n) {
  Sampler sampler(p, {}, int64_t(kLogits.size()));
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) out.push_back(sampler.sample(kLogits));
  return out;
}

TEST(Sampler, SameSeedSameTokensOtherSeedOtherTokens) {
  SamplingParams p = with(1.0);
  p.seed = 1234;
  const auto a = draw(p, 200), b = draw(p, 200);
  EXPECT_EQ(a, b);
  p.seed = 1235;
  EXPECT_NE(a, draw(p, 200));
}

TEST(Sampler, DrawFrequenciesFollowTheDistribution) {
  SamplingParams p = with(1.0, 0, 0.9);
  p.seed = 7;
  const int n = 200000;
  std::map<int32_t, int> counts;
  for (int32_t id : draw(p, n)) ++counts[id];
  // Binomial standard deviation is at most sqrt(0.25 / n) ~ 0.0011; allow 5 of them.
  const Expected expected = {{0, 0.2204833}, {1, 0.0811113}, {5, 0.5993358}, {6, 0.0990696}};
  EXPECT_EQ(counts.size(), expected.size());
  for (const auto& [id, probability] : expected)
    EXPECT_NEAR(counts[id] / double(n), probability, 0.0056) << "token " << id;
}

// Recorded from the host Sampler before sampling became an op (ops/sample.h): the same seeds must
// keep giving the same tokens (one draw per sampled step, none for greedy ones). Logits are
// quarter steps in [-4, 4] from std::mt19937 (fully specified, unlike the distributions), so
// ties are common, and every fifth step masks one token.
TEST(Sampler, SeededTokensAreThoseRecordedBeforeTheOp) {
  struct Case {
    double temperature;
    int64_t top_k;
    double top_p, min_p, repetition, presence, frequency;
  };
  const Case cases[] = {{1.0, 0, 1, 0, 1, 0, 0},
                        {0.7, 5, 1, 0, 1, 0, 0},
                        {1.3, 0, 0.8, 0, 1, 0, 0},
                        {1.0, 0, 1, 0.2, 1, 0, 0},
                        {0.8, 10, 0.9, 0.05, 1.25, 0.4, 0.3},
                        {0, 0, 1, 0, 1.4, 0.2, 0.6}};
  const std::vector<std::vector<int32_t>> expected = {
      {19, 45, 41, 19, 41, 22, 47, 16, 22, 34, 37, 35, 0, 18, 29, 17, 9, 12, 29, 6},
      {22, 20, 23, 43, 23, 13, 32, 12, 22, 11, 13, 8, 40, 21, 3, 3, 8, 27, 45, 42},
      {47, 46, 35, 20, 29, 42, 17, 44, 1, 36, 28, 21, 44, 39, 5, 4, 24, 46, 11, 46},
      {42, 26, 35, 36, 19, 30, 19, 19, 36, 30, 37, 13, 34, 26, 25, 8, 27, 32, 6, 4},
      {20, 22, 8, 38, 47, 17, 9, 26, 6, 41, 33, 36, 16, 29, 39, 14, 19, 15, 28, 46},
      {43, 21, 2, 16, 37, 9, 14, 10, 41, 27, 6, 22, 8, 23, 17, 5, 24, 12, 46, 18},
  };

  for (size_t c = 0; c < std::size(cases); ++c) {
    std::mt19937 logits_rng(uint32_t(2024 + c));
    SamplingParams p = with(cases[c].temperature, cases[c].top_k, cases[c].top_p, cases[c].min_p);
    p.repetition_penalty = cases[c].repetition;
    p.presence_penalty = cases[c].presence;
    p.frequency_penalty = cases[c].frequency;
    p.seed = 100 + c;
    const std::vector<int32_t> prompt = {3, 7, 7, 11};
    Sampler sampler(p, prompt, 48);
    std::vector<int32_t> got;
    for (int step = 0; step < 20; ++step) {
      std::vector<float> logits(48);
      for (float& l : logits) l = float(int(logits_rng() % 33) - 16) * 0.25f;
      if (step % 5 == 0) logits[size_t(step)] = -INFINITY;
      got.push_back(sampler.sample(logits));
    }
    EXPECT_EQ(got, expected[c]) << "case " << c;
  }
}

TEST(Logprobs, RawLogSoftmaxWithSortedAlternatives) {
  double log_z = 0;
  for (float l : kLogits) log_z += std::exp(double(l));
  log_z = std::log(log_z);
  const auto lp = compute_logprobs(kLogits, 3, 3);
  EXPECT_EQ(lp.chosen.token_id, 3);
  EXPECT_NEAR(lp.chosen.logprob, -1.0 - log_z, 1e-9);
  ASSERT_EQ(lp.top.size(), 3u);
  EXPECT_EQ(lp.top[0].token_id, 5);
  EXPECT_EQ(lp.top[1].token_id, 0);
  EXPECT_EQ(lp.top[2].token_id, 6);
  EXPECT_NEAR(lp.top[2].logprob, 1.2 - log_z, 1e-6);
  EXPECT_TRUE(compute_logprobs(kLogits, 0, 0).top.empty());
  // Ties list the lower id first; asking for more than the vocabulary lists it all.
  const std::vector<float> tied = {0.0f, 1.0f, 1.0f};
  const auto all = compute_logprobs(tied, 0, 20);
  ASSERT_EQ(all.top.size(), 3u);
  EXPECT_EQ(all.top[0].token_id, 1);
  EXPECT_EQ(all.top[1].token_id, 2);
  EXPECT_EQ(all.top[2].token_id, 0);
}

TEST(SamplingParams, OutOfRangeValuesNameTheField) {
  auto expect_rejected = [](SamplingParams p, const char* field) {
    try {
      validate(p);
      ADD_FAILURE() << field << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  };
  SamplingParams p;
  p.temperature = -0.1;
  expect_rejected(p, "temperature");
  p = {};
  p.top_p = 0.0;
  expect_rejected(p, "top_p");
  p = {};
  p.top_k = -1;
  expect_rejected(p, "top_k");
  p = {};
  p.min_p = 1.5;
  expect_rejected(p, "min_p");
  p = {};
  p.repetition_penalty = 0.0;
  expect_rejected(p, "repetition_penalty");
  p = {};
  p.presence_penalty = 2.5;
  expect_rejected(p, "presence_penalty");
  p = {};
  p.logprobs = 21;
  expect_rejected(p, "logprobs");
  EXPECT_NO_THROW(validate(SamplingParams{}));
}

TEST(Sampler, RejectsBadInputWithErrors) {
  const std::vector<int32_t> bad_prompt = {0, 99};
  SamplingParams p;
  p.repetition_penalty = 1.1;
  EXPECT_THROW(Sampler(p, bad_prompt, 7), Error);
  Sampler sampler(SamplingParams{}, {}, 7);
  const std::vector<float> short_logits = {1.0f, 2.0f};
  EXPECT_THROW(sampler.sample(short_logits), Error);
  std::vector<float> nan_logits = kLogits;
  nan_logits[2] = std::nanf("");
  EXPECT_THROW(sampler.sample(nan_logits), Error);
}

}  // namespace
}  // namespace glimpse::engine
