#include "ops/rotary.h"

#include <gtest/gtest.h>

#include "ops_test_util.h"

namespace glimpse::ops {
namespace {

using testing::random_tensor;
using testing::relative_l2;

constexpr double kTolerance = 1e-6;

// The reference formula x·cos + rotate(x)·sin, with cos/sin expanded to rotary_dim features as the
// transformers code does (repeat_interleave for the interleaved layout, concatenation for halves).
std::vector<double> reference_rotary(const Tensor& x, const Tensor& cos, const Tensor& sin,
                                     RotaryLayout layout) {
  const int64_t tokens = x.size(0), heads = x.size(1), d = x.size(2), pairs = cos.size(1),
                rot = 2 * pairs;
  std::vector<double> out;
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t h = 0; h < heads; ++h) {
      const float* v = x.data<float>() + (t * heads + h) * d;
      for (int64_t i = 0; i < d; ++i) {
        if (i >= rot) {
          out.push_back(v[i]);
          continue;
        }
        const int64_t pair = layout == RotaryLayout::kInterleaved ? i / 2 : i % pairs;
        double rotated;
        if (layout == RotaryLayout::kInterleaved)
          rotated = i % 2 == 0 ? -double(v[i + 1]) : double(v[i - 1]);
        else
          rotated = i < pairs ? -double(v[i + pairs]) : double(v[i - pairs]);
        out.push_back(v[i] * double(cos.data<float>()[t * pairs + pair]) +
                      rotated * double(sin.data<float>()[t * pairs + pair]));
      }
    }
  return out;
}

TEST(Rotary, PartialInterleavedMatchesReference) {
  const Tensor x = random_tensor({5, 3, 24}, 1), cos = random_tensor({5, 6}, 2),
               sin = random_tensor({5, 6}, 3);
  const std::vector<double> expected = reference_rotary(x, cos, sin, RotaryLayout::kInterleaved);
  Tensor y = x.to_f32();
  rotary_inplace(y, cos, sin, RotaryLayout::kInterleaved);
  EXPECT_LT(relative_l2(y, expected), kTolerance);
}

TEST(Rotary, FullHalvesMatchesReference) {
  const Tensor x = random_tensor({4, 2, 16}, 4), cos = random_tensor({4, 8}, 5),
               sin = random_tensor({4, 8}, 6);
  const std::vector<double> expected = reference_rotary(x, cos, sin, RotaryLayout::kHalves);
  Tensor y = x.to_f32();
  rotary_inplace(y, cos, sin, RotaryLayout::kHalves);
  EXPECT_LT(relative_l2(y, expected), kTolerance);
}

TEST(Rotary, RejectsTablesWiderThanTheHead) {
  Tensor x = random_tensor({2, 1, 8}, 7);
  const Tensor wide = random_tensor({2, 5}, 8);
  EXPECT_THROW(rotary_inplace(x, wide, wide, RotaryLayout::kHalves), Error);
}

}  // namespace
}  // namespace glimpse::ops
