#include "ops/attention.h"

#include <gtest/gtest.h>

#include <cmath>

#include "ops_test_util.h"

namespace glimpse::ops {
namespace {

using testing::random_tensor;
using testing::relative_l2;

constexpr double kTolerance = 1e-5;  // f32 dot products and softmax against double

// softmax(q·kᵀ·scale)·v in double for query row `t`, head `h`, over keys [first, end).
void reference_row(const Tensor& q, const Tensor& k, const Tensor& v, int64_t t, int64_t h,
                   int64_t kv_h, int64_t first, int64_t end, double scale,
                   std::vector<double>& out) {
  const int64_t d = q.size(2), heads = q.size(1), kv_heads = k.size(1);
  std::vector<double> s;
  double max_s = -1e300, sum = 0;
  for (int64_t j = first; j < end; ++j) {
    double dot = 0;
    for (int64_t i = 0; i < d; ++i)
      dot += double(q.data<float>()[(t * heads + h) * d + i]) *
             k.data<float>()[(j * kv_heads + kv_h) * d + i];
    s.push_back(dot * scale);
    max_s = std::max(max_s, s.back());
  }
  for (double& e : s) sum += (e = std::exp(e - max_s));
  for (int64_t i = 0; i < d; ++i) {
    double acc = 0;
    for (int64_t j = first; j < end; ++j)
      acc += s[size_t(j - first)] / sum * v.data<float>()[(j * kv_heads + kv_h) * d + i];
    out.push_back(acc);
  }
}

TEST(Attention, CausalGqaWithPastKeysMatchesReference) {
  // 3 new queries after 5 cached tokens; 6 query heads share 2 KV heads.
  const int64_t past = 5, n = 3, heads = 6, kv_heads = 2, d = 16;
  const Tensor q = random_tensor({n, heads, d}, 1), k = random_tensor({past + n, kv_heads, d}, 2),
               v = random_tensor({past + n, kv_heads, d}, 3);
  const double scale = 1 / std::sqrt(double(d));
  std::vector<double> expected;
  for (int64_t t = 0; t < n; ++t)
    for (int64_t h = 0; h < heads; ++h)
      reference_row(q, k, v, t, h, h / 3, 0, past + t + 1, scale, expected);
  const Tensor out = causal_attention(q, k, v, past, float(scale));
  EXPECT_EQ(out.shape(), (Shape{n, heads * d}));
  EXPECT_LT(relative_l2(out, expected), kTolerance);
}

TEST(Attention, DecodeAcrossKeyChunksMatchesReference) {
  // 255 cached keys: the first query sees exactly one 256-key chunk, the next ones two; 8 query
  // heads share each of 2 KV heads.
  const int64_t past = 255, n = 3, heads = 16, kv_heads = 2, d = 32;
  const Tensor q = random_tensor({n, heads, d}, 21), k = random_tensor({past + n, kv_heads, d}, 22),
               v = random_tensor({past + n, kv_heads, d}, 23);
  std::vector<double> expected;
  for (int64_t t = 0; t < n; ++t)
    for (int64_t h = 0; h < heads; ++h)
      reference_row(q, k, v, t, h, h / 8, 0, past + t + 1, 0.2, expected);
  EXPECT_LT(relative_l2(causal_attention(q, k, v, past, 0.2f), expected), kTolerance);
}

TEST(Attention, CausalPrefillBlocksMatchReference) {
  // Enough queries for the sgemm path, and more than one 256-query block.
  const int64_t past = 4, n = 300, heads = 4, kv_heads = 2, d = 16;
  const Tensor q = random_tensor({n, heads, d}, 11), k = random_tensor({past + n, kv_heads, d}, 12),
               v = random_tensor({past + n, kv_heads, d}, 13);
  std::vector<double> expected;
  for (int64_t t = 0; t < n; ++t)
    for (int64_t h = 0; h < heads; ++h)
      reference_row(q, k, v, t, h, h / 2, 0, past + t + 1, 0.25, expected);
  EXPECT_LT(relative_l2(causal_attention(q, k, v, past, 0.25f), expected), kTolerance);
}

TEST(Attention, SegmentsOnlySeeThemselves) {
  // A short segment, an empty one, and one longer than a 256-query block.
  const int64_t tokens = 4 + 270, heads = 2, d = 8;
  const std::vector<int64_t> cu_seqlens = {0, 4, 4, tokens};
  const Tensor q = random_tensor({tokens, heads, d}, 4), k = random_tensor({tokens, heads, d}, 5),
               v = random_tensor({tokens, heads, d}, 6);
  std::vector<double> expected;
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t first = t < 4 ? 0 : 4, end = t < 4 ? 4 : tokens;
      reference_row(q, k, v, t, h, h, first, end, 0.3, expected);
    }
  EXPECT_LT(relative_l2(segment_attention(q, k, v, cu_seqlens, 0.3f), expected), kTolerance);
}

TEST(Attention, RejectsBadGeometry) {
  const Tensor q = random_tensor({2, 3, 8}, 7), k = random_tensor({2, 2, 8}, 8);
  EXPECT_THROW(causal_attention(q, k, k, 0, 1.0f), Error);  // 3 heads over 2 KV heads
  const Tensor q2 = random_tensor({2, 2, 8}, 9);
  EXPECT_THROW(causal_attention(q2, k, k, 1, 1.0f), Error);  // offset 1 + 2 queries > 2 keys
  const std::vector<int64_t> short_cu = {0, 1};
  EXPECT_THROW(segment_attention(q2, k, k, short_cu, 1.0f), Error);
}

}  // namespace
}  // namespace glimpse::ops
