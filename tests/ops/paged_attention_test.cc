// Paged causal attention against a plain reference over the same keys laid out contiguously.
#include "ops/paged_attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "ops_test_util.h"

namespace glimpse::ops {
namespace {

using testing::random_tensor;
using testing::relative_l2;

// Softmax(q·k·scale)·v over keys [0, offset + t], one query head at a time, in double.
std::vector<double> reference(const Tensor& q, const std::vector<float>& k,
                              const std::vector<float>& v, int64_t kv_heads, int64_t offset,
                              float scale) {
  const int64_t n = q.size(0), heads = q.size(1), d = q.size(2), group = heads / kv_heads;
  std::vector<double> out(static_cast<size_t>(n * heads * d));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t h = 0; h < heads; ++h) {
      const float* query = q.data<float>() + (t * heads + h) * d;
      const int64_t keys = offset + t + 1, kv = h / group;
      std::vector<double> s(static_cast<size_t>(keys));
      for (int64_t j = 0; j < keys; ++j) {
        double dot = 0;
        for (int64_t i = 0; i < d; ++i)
          dot += double(query[i]) * k[size_t((j * kv_heads + kv) * d + i)];
        s[size_t(j)] = dot * scale;
      }
      const double top = *std::max_element(s.begin(), s.end());
      double sum = 0;
      for (double& x : s) sum += (x = std::exp(x - top));
      for (int64_t i = 0; i < d; ++i) {
        double acc = 0;
        for (int64_t j = 0; j < keys; ++j)
          acc += s[size_t(j)] / sum * v[size_t((j * kv_heads + kv) * d + i)];
        out[size_t((t * heads + h) * d + i)] = acc;
      }
    }
  return out;
}

TEST(PagedAttention, MatchesContiguousReferenceWithScatteredBlocks) {
  const int64_t heads = 4, kv_heads = 2, d = 16, block_size = 4, blocks = 12;
  for (int64_t offset : {0, 5, 13}) {
    const int64_t n = 3, keys = offset + n;
    const Tensor q = random_tensor({n, heads, d}, uint32_t(offset + 1));
    const Tensor k_pool = random_tensor({blocks, block_size, kv_heads, d}, uint32_t(offset + 2));
    const Tensor v_pool = random_tensor({blocks, block_size, kv_heads, d}, uint32_t(offset + 3));
    // A non-contiguous, out-of-order block table.
    std::vector<int32_t> table{7, 2, 11, 0, 5};
    std::vector<float> k, v;
    for (int64_t p = 0; p < keys; ++p) {
      const int64_t base =
          (table[size_t(p / block_size)] * block_size + p % block_size) * kv_heads * d;
      k.insert(k.end(), k_pool.data<float>() + base, k_pool.data<float>() + base + kv_heads * d);
      v.insert(v.end(), v_pool.data<float>() + base, v_pool.data<float>() + base + kv_heads * d);
    }
    const float scale = 0.25f;
    Tensor out = paged_causal_attention(q, k_pool, v_pool, table, offset, scale);
    ASSERT_EQ(out.shape(), (Shape{n, heads * d}));
    EXPECT_LT(relative_l2(out, reference(q, k, v, kv_heads, offset, scale)), 1e-6)
        << "offset " << offset;
  }
}

TEST(PagedAttention, RejectsTablesThatDoNotCoverTheKeys) {
  const Tensor q = random_tensor({2, 2, 8}, 1);
  const Tensor pool = random_tensor({3, 4, 1, 8}, 2);
  const std::vector<int32_t> short_table{0};
  EXPECT_THROW(paged_causal_attention(q, pool, pool, short_table, 4, 1.0f),
               Error);  // 6 keys, 1 block
  const std::vector<int32_t> outside{0, 9};
  EXPECT_THROW(paged_causal_attention(q, pool, pool, outside, 4, 1.0f), Error);
}

}  // namespace
}  // namespace glimpse::ops
