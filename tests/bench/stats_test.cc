#include "bench/stats.h"

#include <gtest/gtest.h>

#include <random>

namespace glimpse::bench {
namespace {

TEST(Summary, MatchesHandComputedValues) {
  // samples 1..10: mean 5.5, population std sqrt(8.25); numpy linear percentiles.
  std::vector<double> v{10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
  Summary s = summarize(v);
  EXPECT_EQ(s.count, 10u);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 10);
  EXPECT_DOUBLE_EQ(s.mean, 5.5);
  EXPECT_NEAR(s.stddev, 2.8722813232690143, 1e-12);
  EXPECT_DOUBLE_EQ(s.p50, 5.5);
  EXPECT_NEAR(s.p90, 9.1, 1e-12);  // numpy.percentile(range(1,11), 90)
  EXPECT_NEAR(s.p95, 9.55, 1e-12);
  EXPECT_NEAR(s.p99, 9.91, 1e-12);
}

TEST(Summary, SingleSampleAndEmpty) {
  Summary one = summarize({3.0});
  EXPECT_DOUBLE_EQ(one.p99, 3.0);
  EXPECT_DOUBLE_EQ(one.stddev, 0.0);
  EXPECT_EQ(summarize({}).count, 0u);
}

TEST(ChooseLoops, FollowsOneTwoFiveUntilTwoTenthsOfASecond) {
  // Each call costs 7 ms: 20 loops = 0.14 s, 50 loops = 0.35 s → 50.
  std::vector<int64_t> tried;
  auto timer = [&](int64_t n) {
    tried.push_back(n);
    return double(n) * 0.007;
  };
  EXPECT_EQ(choose_loops(timer), 50);
  EXPECT_EQ(tried, (std::vector<int64_t>{1, 2, 5, 10, 20, 50}));
  EXPECT_EQ(choose_loops([](int64_t n) { return double(n) * 0.5; }), 1);
}

TEST(FormatDuration, IPythonWording) {
  EXPECT_EQ(format_duration(0.0874), "87.4 ms");
  EXPECT_EQ(format_duration(1.5), "1.5 s");
  EXPECT_EQ(format_duration(0.001), "1 ms");
  EXPECT_EQ(format_duration(2.5e-7), "250 ns");
  EXPECT_EQ(format_duration(3.2e-5), "32 \u00b5s");
  EXPECT_EQ(format_duration(65), "1min 5s");
  EXPECT_EQ(format_duration(0), "0 ns");
}

TEST(TimeitResult, IPythonLinesAndWarning) {
  TimeitResult r{5, {0.437, 0.4295, 0.445}};  // per loop 87.4, 85.9, 89.0 ms
  EXPECT_EQ(r.ipython_line(),
            "87.4 ms \u00b1 1.27 ms per loop (mean \u00b1 std. dev. of 3 runs, 5 loops each)");
  EXPECT_EQ(r.best_line(), "best of 3: 85.9 ms per loop");
  EXPECT_EQ(r.caching_warning(), "");
  TimeitResult cached{1, {0.010, 0.050}};
  EXPECT_EQ(TimeitResult({1, {0.5}}).ipython_line(),
            "500 ms \u00b1 0 ns per loop (mean \u00b1 std. dev. of 1 run, 1 loop each)");
  EXPECT_EQ(cached.caching_warning(),
            "The slowest run took 5.00 times longer than the fastest. This could mean that an "
            "intermediate result is being cached.");
}

TEST(Bootstrap, DetectsAKnownDifferenceAndNoise) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> base(100, 5), slower(120, 5);
  std::vector<double> a, b, c;
  for (int i = 0; i < 200; ++i) {
    a.push_back(base(rng));
    b.push_back(slower(rng));
    c.push_back(base(rng));
  }
  RatioInterval diff = bootstrap_ratio(a, b, 0.95, 2000);
  EXPECT_NEAR(diff.ratio, 1.2, 0.02);
  EXPECT_GT(diff.low, 1.15);
  EXPECT_LT(diff.high, 1.25);
  EXPECT_FALSE(diff.within_noise());
  RatioInterval same = bootstrap_ratio(a, c, 0.95, 2000);
  EXPECT_TRUE(same.within_noise());
  EXPECT_LT(same.high - same.low, 0.03);
}

}  // namespace
}  // namespace glimpse::bench
