// Half-precision activations on the CPU: convert rounds to nearest even both ways, and every op
// that takes or gives a half tensor computes in f32 — its result is exactly the f32 op's on the
// widened inputs, rounded once at the end. (On the GPU the same ops keep their activations in half;
// tests/ops_cuda compares them with these.)
#include "ops/convert.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "ops/attention.h"
#include "ops/elementwise.h"
#include "ops/fused.h"
#include "ops/linear.h"
#include "ops/norms.h"
#include "ops_test_util.h"

namespace glimpse::ops {
namespace {

using testing::random_tensor;

// Bit-for-bit equality of two tensors of one dtype and shape.
void expect_identical(const Tensor& actual, const Tensor& expected) {
  ASSERT_EQ(actual.dtype(), expected.dtype());
  ASSERT_EQ(actual.shape(), expected.shape());
  EXPECT_TRUE(std::equal(actual.bytes().begin(), actual.bytes().end(), expected.bytes().begin()));
}

TEST(Convert, RoundsToNearestEvenAndWidensExactly) {
  // 1 + 2⁻⁸ is halfway between two bf16 values: it rounds to the even one (1.0); 1 + 3·2⁻⁸ rounds
  // up. NaN stays NaN, infinities stay.
  const float values[] = {1.0f + 1.0f / 256,
                          1.0f + 3.0f / 256,
                          -2.5f,
                          1e-3f,
                          std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::quiet_NaN()};
  const Tensor x =
      Tensor::from_vector(std::vector<float>(std::begin(values), std::end(values)), {6});
  const Tensor bf16 = convert(x, DType::kBF16), wide = convert(bf16, DType::kF32);
  EXPECT_EQ(bf16.dtype(), DType::kBF16);
  EXPECT_EQ(wide.data<float>()[0], 1.0f);
  EXPECT_EQ(wide.data<float>()[1], 1.0f + 4.0f / 256);
  EXPECT_EQ(wide.data<float>()[2], -2.5f);
  EXPECT_NEAR(wide.data<float>()[3], 1e-3f, 1e-3f / 256);
  EXPECT_TRUE(std::isinf(wide.data<float>()[4]));
  EXPECT_TRUE(std::isnan(wide.data<float>()[5]));
  const Tensor f16 = convert(x, DType::kF16);
  EXPECT_EQ(convert(f16, DType::kF32).data<float>()[2], -2.5f);
  // Already in the dtype: the same tensor, no copy.
  EXPECT_EQ(convert(x, DType::kF32).raw_data(), x.raw_data());
  EXPECT_THROW(convert(x, DType::kI32), Error);
  EXPECT_THROW(convert(Tensor::empty({2}, DType::kI64), DType::kF32), Error);
}

TEST(HalfActivations, LinearWidensTheInputAndRoundsTheOutput) {
  const Tensor x = random_tensor({5, 64}, 1), bias = random_tensor({48}, 2);
  const Tensor weight = convert(random_tensor({48, 64}, 3, 0.1f), DType::kBF16);
  const Tensor x_half = convert(x, DType::kBF16);
  const Tensor f32 = linear(convert(x_half, DType::kF32), weight, &bias);
  expect_identical(linear(x_half, weight, &bias), f32);
  expect_identical(linear(x_half, weight, &bias, DType::kBF16), convert(f32, DType::kBF16));
  // The input must be f32 or the weight's dtype, the output likewise.
  EXPECT_THROW(linear(convert(x, DType::kF16), weight), Error);
  EXPECT_THROW(linear(x, weight, nullptr, DType::kF16), Error);
  EXPECT_THROW(linear(x_half, convert(weight, DType::kF32)), Error);
}

TEST(HalfActivations, AddLinearAddsTheProjection) {
  const Tensor x = convert(random_tensor({9, 64}, 4), DType::kBF16);
  const Tensor weight = convert(random_tensor({32, 64}, 5, 0.1f), DType::kBF16);
  Tensor y = random_tensor({9, 32}, 6);
  Tensor expected = random_tensor({9, 32}, 6);  // the same values, another tensor
  add_inplace(expected, linear(x, weight));
  add_linear(y, x, weight);
  expect_identical(y, expected);
  Tensor wrong = random_tensor({9, 31}, 7);
  EXPECT_THROW(add_linear(wrong, x, weight), Error);
}

TEST(HalfActivations, RmsNormGatedAndSplitRoundTheirF32Results) {
  const Tensor x = random_tensor({6, 40}, 8, 3.0f), w = random_tensor({40}, 9);
  expect_identical(rms_norm(x, w, 1e-5f, DType::kBF16),
                   convert(rms_norm(x, w, 1e-5f), DType::kBF16));
  expect_identical(rms_norm(x, w, 1e-5f, DType::kF16), convert(rms_norm(x, w, 1e-5f), DType::kF16));

  const Tensor gate_up = convert(random_tensor({6, 2 * 24}, 10, 2.0f), DType::kBF16);
  const Tensor gated = gated_activation(convert(gate_up, DType::kF32), Activation::kSilu);
  expect_identical(gated_activation(gate_up, Activation::kSilu), gated);
  expect_identical(gated_activation(gate_up, Activation::kSilu, DType::kBF16),
                   convert(gated, DType::kBF16));
  const Tensor gate_up_weight = convert(random_tensor({48, 40}, 11, 0.1f), DType::kBF16);
  expect_identical(
      gated_linear(x, gate_up_weight, Activation::kGelu, DType::kBF16),
      convert(gated_activation(linear(x, gate_up_weight), Activation::kGelu), DType::kBF16));

  const Tensor qkv = random_tensor({3, (4 + 2 * 2) * 16}, 12);
  const Tensor cos = random_tensor({3, 8}, 13), sin = random_tensor({3, 8}, 14);
  const QkvParts f32 = split_qkv_rotary(qkv, 4, 2, cos, sin, RotaryLayout::kHalves);
  const QkvParts half = split_qkv_rotary(qkv, 4, 2, cos, sin, RotaryLayout::kHalves, DType::kBF16);
  expect_identical(half.q, convert(f32.q, DType::kBF16));
  expect_identical(half.k, convert(f32.k, DType::kBF16));
  expect_identical(half.v, convert(f32.v, DType::kBF16));
}

TEST(HalfActivations, SegmentAttentionOnHalfInputs) {
  const std::vector<int64_t> cu_seqlens = {0, 5, 12};
  const Tensor q = convert(random_tensor({12, 2, 16}, 15), DType::kBF16),
               k = convert(random_tensor({12, 2, 16}, 16), DType::kBF16),
               v = convert(random_tensor({12, 2, 16}, 17), DType::kBF16);
  const Tensor f32 = segment_attention(convert(q, DType::kF32), convert(k, DType::kF32),
                                       convert(v, DType::kF32), cu_seqlens, 0.25f);
  expect_identical(segment_attention(q, k, v, cu_seqlens, 0.25f), convert(f32, DType::kBF16));
  // Mixed dtypes are refused, naming the tensor.
  try {
    segment_attention(q, convert(k, DType::kF32), v, cu_seqlens, 0.25f);
    FAIL() << "mixed dtypes were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("k F32"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace glimpse::ops
