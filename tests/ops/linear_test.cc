#include "ops/linear.h"

#include <gtest/gtest.h>

#include "ops/convert.h"
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

// The weight rounded to bf16 or f16, and the same values upcast to f32 for the reference.
std::pair<Tensor, Tensor> half_weight(Shape shape, uint32_t seed, DType dtype) {
  const Tensor w = random_tensor(shape, seed);
  Tensor half = Tensor::empty(shape, dtype), exact = Tensor::empty(shape, DType::kF32);
  for (int64_t i = 0; i < w.numel(); ++i) {
    const float v = w.data<float>()[i];
    half.data<uint16_t>()[i] = dtype == DType::kBF16 ? f32_to_bf16(v) : f32_to_f16(v);
    exact.data<float>()[i] = dtype == DType::kBF16 ? bf16_to_f32(half.data<uint16_t>()[i])
                                                   : f16_to_f32(half.data<uint16_t>()[i]);
  }
  return {half, exact};
}

TEST(Linear, HalfWeightsMatchReferenceOnMatvecAndGemmPaths) {
  // 1 and 5 rows take the streaming kernel, 20 rows the panel-upcast GEMM (300 outputs: 2 panels);
  // 301 inputs leave a tail after the 32-wide vector loop.
  for (DType dtype : {DType::kBF16, DType::kF16})
    for (int64_t rows : {1, 5, 20}) {
      const auto [half, exact] = half_weight({300, 301}, 11, dtype);
      const Tensor x = random_tensor({rows, 301}, 12), b = random_tensor({300}, 13);
      EXPECT_LT(relative_l2(linear(x, half, &b), reference_linear(x, exact, &b)), kTolerance)
          << dtype_name(dtype) << " rows " << rows;
      EXPECT_LT(relative_l2(linear(x, half), reference_linear(x, exact, nullptr)), kTolerance);
    }
}

TEST(Linear, HalfWeightGemmSpreadsTheUpcastOverThreads) {
  // 256 × 1100 weights per panel: several conversion chunks, so pool workers convert too.
  const auto [half, exact] = half_weight({520, 1100}, 14, DType::kBF16);
  const Tensor x = random_tensor({9, 1100}, 15);
  EXPECT_LT(relative_l2(linear(x, half), reference_linear(x, exact, nullptr)), kTolerance);
}

TEST(Linear, AHalfBiasIsWidenedForAHalfOutput) {
  const Tensor x = random_tensor({5, 64}, 18);
  const Tensor w = convert(random_tensor({24, 64}, 19), DType::kBF16);
  const Tensor half_bias = convert(random_tensor({24}, 20), DType::kBF16);
  const Tensor wide_bias = convert(half_bias, DType::kF32);
  const Tensor from_half = convert(linear(x, w, &half_bias, DType::kBF16), DType::kF32);
  const Tensor from_f32 = convert(linear(x, w, &wide_bias, DType::kBF16), DType::kF32);
  for (int64_t i = 0; i < from_half.numel(); ++i)
    ASSERT_EQ(from_half.data<float>()[i], from_f32.data<float>()[i]) << i;
  // A half bias with an f32 output (or another half type) is refused.
  EXPECT_THROW(linear(x, w, &half_bias), Error);
}

TEST(Linear, RejectsMismatchedShapesAndDtypes) {
  const Tensor x = random_tensor({2, 8}, 7), w = random_tensor({4, 9}, 8);
  EXPECT_THROW(linear(x, w), Error);
  const Tensor empty_x = random_tensor({2, 0}, 16), empty_weight = random_tensor({4, 0}, 17);
  EXPECT_THROW(linear(empty_x, empty_weight),
               Error);  // no input features: nothing to count rows by
  const Tensor int_weight = Tensor::zeros({4, 8}, DType::kI32);
  EXPECT_THROW(linear(x, int_weight), Error);
  const Tensor w_ok = random_tensor({4, 8}, 9), short_bias = random_tensor({3}, 10);
  EXPECT_THROW(linear(x, w_ok, &short_bias), Error);
}

}  // namespace
}  // namespace glimpse::ops
