#include "ops/softmax.h"

#include <gtest/gtest.h>

#include <cmath>

#include "ops_test_util.h"

namespace glimpse::ops {
namespace {

using testing::random_tensor;
using testing::relative_l2;

TEST(Softmax, MatchesReferenceIncludingLargeLogits) {
  Tensor x = random_tensor({3, 40}, 1, 5.0f);
  x.data<float>()[7] = 1000.0f;  // would overflow exp() without the max subtraction
  std::vector<double> expected;
  for (int64_t r = 0; r < 3; ++r) {
    const float* row = x.data<float>() + r * 40;
    double max_value = row[0], sum = 0;
    for (int64_t i = 0; i < 40; ++i) max_value = std::max(max_value, double(row[i]));
    for (int64_t i = 0; i < 40; ++i) sum += std::exp(row[i] - max_value);
    for (int64_t i = 0; i < 40; ++i) expected.push_back(std::exp(row[i] - max_value) / sum);
  }
  EXPECT_LT(relative_l2(softmax(x), expected), 1e-6);
}

}  // namespace
}  // namespace glimpse::ops
