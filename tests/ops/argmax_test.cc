#include "ops/argmax.h"

#include <gtest/gtest.h>

#include <cmath>

#include "ops_test_util.h"

namespace glimpse::ops {
namespace {

TEST(ArgmaxRows, FirstIndexOfEachRowsMaximum) {
  const Tensor logits = Tensor::from_vector(
      {1, 5, 5, 2,  // tie: the lower index
       -INFINITY, -INFINITY, -INFINITY, -INFINITY,  // nothing larger than -inf: index 0
       -3, -1, -2, -7},
      {3, 4});
  EXPECT_EQ(argmax_rows(logits), (std::vector<int32_t>{1, 0, 1}));
}

TEST(ArgmaxRows, MatchesAScanOnRandomRows) {
  const Tensor logits = testing::random_tensor({7, 1001}, 3, 4.0f);
  const std::vector<int32_t> picked = argmax_rows(logits);
  for (int64_t r = 0; r < 7; ++r) {
    const float* row = logits.data<float>() + r * 1001;
    EXPECT_EQ(picked[size_t(r)], int32_t(std::max_element(row, row + 1001) - row)) << r;
  }
}

TEST(ArgmaxRows, NanIsAnErrorNamingTheRow) {
  Tensor logits = testing::random_tensor({2, 5}, 4);
  logits.data<float>()[7] = NAN;
  try {
    argmax_rows(logits);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "argmax_rows: row 1 holds NaN (token 2)");
  }
}

}  // namespace
}  // namespace glimpse::ops
