#include "ops/norms.h"

#include <gtest/gtest.h>

#include <cmath>

#include "ops_test_util.h"

namespace glimpse::ops {
namespace {

using testing::random_tensor;
using testing::relative_l2;

constexpr double kTolerance = 1e-6;  // f32 row sums of 96 terms against double

TEST(RmsNorm, MatchesReference) {
  const Tensor x = random_tensor({5, 96}, 1, 3.0f), w = random_tensor({96}, 2);
  const float eps = 1e-5f;
  std::vector<double> expected;
  for (int64_t r = 0; r < 5; ++r) {
    double sum_sq = 0;
    for (int64_t i = 0; i < 96; ++i) sum_sq += std::pow(x.data<float>()[r * 96 + i], 2);
    const double inv = 1 / std::sqrt(sum_sq / 96 + eps);
    for (int64_t i = 0; i < 96; ++i)
      expected.push_back(w.data<float>()[i] * x.data<float>()[r * 96 + i] * inv);
  }
  EXPECT_LT(relative_l2(rms_norm(x, w, eps), expected), kTolerance);
}

TEST(LayerNorm, MatchesReference) {
  const Tensor x = random_tensor({4, 64}, 3, 2.0f), w = random_tensor({64}, 4),
               b = random_tensor({64}, 5);
  const float eps = 1e-5f;
  std::vector<double> expected;
  for (int64_t r = 0; r < 4; ++r) {
    const float* row = x.data<float>() + r * 64;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < 64; ++i) mean += row[i] / 64.0;
    for (int64_t i = 0; i < 64; ++i) var += (row[i] - mean) * (row[i] - mean) / 64.0;
    for (int64_t i = 0; i < 64; ++i)
      expected.push_back((row[i] - mean) / std::sqrt(var + eps) * w.data<float>()[i] +
                         b.data<float>()[i]);
  }
  EXPECT_LT(relative_l2(layer_norm(x, w, b, eps), expected), kTolerance);
}

TEST(Norms, RejectWidthMismatch) {
  const Tensor x = random_tensor({2, 10}, 6), w = random_tensor({11}, 7);
  EXPECT_THROW(rms_norm(x, w, 1e-5f), Error);
  EXPECT_THROW(layer_norm(x, w, w, 1e-5f), Error);
  const Tensor empty_x = random_tensor({2, 0}, 8), empty_w = random_tensor({0}, 9);
  EXPECT_THROW(rms_norm(empty_x, empty_w, 1e-5f), Error);
}

}  // namespace
}  // namespace glimpse::ops
