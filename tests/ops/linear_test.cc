#include "ops/linear.h"

#include <gtest/gtest.h>

#include "ops_test_util.h"

namespace glimpse::ops {
namespace {

using testing::random_tensor;
using testing::relative_l2;

// Plain triple loop in double.
std::vector<double> reference_linear(const Tensor& x, const Tensor& w, const Tensor* b) {
  const int64_t rows = x.size(0), out = w.size(0), in = w.size(1);
  std::vector<double> y(size_t(rows * out));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double sum = b ? b->data<float>()[o] : 0.0;
      for (int64_t i = 0; i < in; ++i)
        sum += double(x.data<float>()[r * in + i]) * w.data<float>()[o * in + i];
      y[size_t(r * out + o)] = sum;
    }
  return y;
}

// f32 accumulation over 300 terms: rel. L2 error well under 1e-5.
constexpr double kTolerance = 1e-5;

TEST(Linear, MatrixMatchesReferenceWithAndWithoutBias) {
  const Tensor x = random_tensor({7, 300}, 1), w = random_tensor({45, 300}, 2),
               b = random_tensor({45}, 3);
  EXPECT_LT(relative_l2(linear(x, w, &b), reference_linear(x, w, &b)), kTolerance);
  EXPECT_LT(relative_l2(linear(x, w), reference_linear(x, w, nullptr)), kTolerance);
}

TEST(Linear, SingleRowUsesMatrixVectorPath) {
  const Tensor x = random_tensor({1, 300}, 4), w = random_tensor({513, 300}, 5),
               b = random_tensor({513}, 6);
  const Tensor y = linear(x, w, &b);
  EXPECT_EQ(y.shape(), (Shape{1, 513}));
  EXPECT_LT(relative_l2(y, reference_linear(x, w, &b)), kTolerance);
}

TEST(Linear, RejectsMismatchedShapesAndDtypes) {
  const Tensor x = random_tensor({2, 8}, 7), w = random_tensor({4, 9}, 8);
  EXPECT_THROW(linear(x, w), Error);
  const Tensor bf16_weight = Tensor::zeros({4, 8}, DType::kBF16);
  EXPECT_THROW(linear(x, bf16_weight), Error);
  const Tensor w_ok = random_tensor({4, 8}, 9), short_bias = random_tensor({3}, 10);
  EXPECT_THROW(linear(x, w_ok, &short_bias), Error);
}

}  // namespace
}  // namespace glimpse::ops
