#include "ops/fused.h"

#include <gtest/gtest.h>

#include <cmath>

#include "ops/convert.h"
#include "ops_test_util.h"

namespace glimpse::ops {
namespace {

using testing::random_tensor;
using testing::relative_l2;

constexpr double kTolerance = 1e-6;

// rms(v)·w per row of d, in double.
std::vector<double> reference_rms(const std::vector<double>& v, const float* w, int64_t d) {
  std::vector<double> out(v.size());
  for (size_t r = 0; r < v.size() / size_t(d); ++r) {
    double sum = 0;
    for (int64_t i = 0; i < d; ++i) sum += v[r * size_t(d) + size_t(i)] * v[r * size_t(d) + size_t(i)];
    const double inv = 1.0 / std::sqrt(sum / double(d) + 1e-5);
    for (int64_t i = 0; i < d; ++i)
      out[r * size_t(d) + size_t(i)] = v[r * size_t(d) + size_t(i)] * inv * w[i];
  }
  return out;
}

std::vector<double> as_double(const Tensor& t) {
  return {t.data<float>(), t.data<float>() + t.numel()};
}

TEST(ResidualRmsNorm, AddsTheNormedBranchAndNormsTheSum) {
  const int64_t rows = 5, d = 96;
  Tensor hidden = random_tensor({rows, d}, 1, 2.0f);
  const Tensor x = random_tensor({rows, d}, 2, 7.0f), w = random_tensor({d}, 3),
               w_next = random_tensor({d}, 4);
  std::vector<double> expected_hidden = as_double(hidden);
  const std::vector<double> branch = reference_rms(as_double(x), w.data<float>(), d);
  for (size_t i = 0; i < branch.size(); ++i) expected_hidden[i] += branch[i];
  const std::vector<double> expected_next =
      reference_rms(expected_hidden, w_next.data<float>(), d);

  const Tensor next = residual_rms_norm(hidden, x, w, &w_next, 1e-5f);
  EXPECT_LE(relative_l2(hidden, expected_hidden), kTolerance);
  EXPECT_LE(relative_l2(next, expected_next), kTolerance);
  EXPECT_FALSE(residual_rms_norm(hidden, x, w, nullptr, 1e-5f).defined());
}

TEST(SplitQkvRotary, SplitsRowsAndRotatesQueriesAndKeysOnly) {
  const int64_t n = 3, heads = 4, kv_heads = 2, d = 8, pairs = 2;
  const Tensor qkv = random_tensor({n, (heads + 2 * kv_heads) * d}, 5);
  const Tensor cos = random_tensor({n, pairs}, 6), sin = random_tensor({n, pairs}, 7);
  const QkvParts parts = split_qkv_rotary(qkv, heads, kv_heads, cos, sin, RotaryLayout::kHalves);
  ASSERT_EQ(parts.q.shape(), (Shape{n, heads, d}));
  ASSERT_EQ(parts.k.shape(), (Shape{n, kv_heads, d}));
  ASSERT_EQ(parts.v.shape(), (Shape{n, kv_heads, d}));
  const int64_t slots = heads + 2 * kv_heads;
  for (int64_t t = 0; t < n; ++t)
    for (int64_t s = 0; s < slots; ++s) {
      const float* in = qkv.data<float>() + (t * slots + s) * d;
      const float* out = s < heads ? parts.q.data<float>() + (t * heads + s) * d
                         : s < heads + kv_heads
                             ? parts.k.data<float>() + (t * kv_heads + s - heads) * d
                             : parts.v.data<float>() + (t * kv_heads + s - heads - kv_heads) * d;
      for (int64_t i = 0; i < d; ++i) {
        double expected = in[i];
        if (s < heads + kv_heads && i < 2 * pairs) {
          const int64_t p = i % pairs;
          const double c = cos.data<float>()[t * pairs + p], sn = sin.data<float>()[t * pairs + p];
          expected = i < pairs ? in[i] * c - in[i + pairs] * sn : in[i] * c + in[i - pairs] * sn;
        }
        EXPECT_NEAR(out[i], expected, 1e-5) << "token " << t << " slot " << s << " feature " << i;
      }
    }
}

TEST(SplitQkvRotary, AHalfQkvIsWidenedExactly) {
  const int64_t n = 3, heads = 4, kv_heads = 2, d = 8, pairs = 4;
  const Tensor qkv = convert(random_tensor({n, (heads + 2 * kv_heads) * d}, 10), DType::kBF16);
  const Tensor cos = random_tensor({n, pairs}, 11), sin = random_tensor({n, pairs}, 12);
  const QkvParts from_half = split_qkv_rotary(qkv, heads, kv_heads, cos, sin, RotaryLayout::kHalves);
  const QkvParts from_f32 =
      split_qkv_rotary(convert(qkv, DType::kF32), heads, kv_heads, cos, sin, RotaryLayout::kHalves);
  for (const auto& [half, wide] : {std::pair{from_half.q, from_f32.q},
                                   std::pair{from_half.k, from_f32.k},
                                   std::pair{from_half.v, from_f32.v}}) {
    ASSERT_EQ(half.dtype(), DType::kF32);
    for (int64_t i = 0; i < half.numel(); ++i)
      ASSERT_EQ(half.data<float>()[i], wide.data<float>()[i]) << i;
  }
}

TEST(SplitQkvRotary, RejectsRowsThatAreNotWholeHeads) {
  const Tensor qkv = random_tensor({2, 50}, 8), cos = random_tensor({2, 2}, 9);
  try {
    split_qkv_rotary(qkv, 4, 2, cos, cos, RotaryLayout::kInterleaved);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "split_qkv_rotary: qkv [2, 50] must be [n, (4 + 2 × 2) · head_dim]");
  }
}

}  // namespace
}  // namespace glimpse::ops
