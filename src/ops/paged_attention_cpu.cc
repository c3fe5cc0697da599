#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/thread_pool.h"
#include "ops/paged_attention.h"
#include "ops/paged_batch.h"

namespace glimpse::ops::cpu {

// Per query row and head: 4·keys·d FLOPs; reads 2·keys·d floats of K/V, block by block, with an
// online softmax (running max and sum) so no score buffer spans the whole context.
Tensor paged_causal_attention(const Tensor& q, const Tensor& k_pool, const Tensor& v_pool,
                              std::span<const int32_t> block_table, int64_t q_offset, float scale) {
  check_f32(q, "paged_causal_attention", "q");
  check_f32(k_pool, "paged_causal_attention", "k_pool");
  check_f32(v_pool, "paged_causal_attention", "v_pool");
  if (q.dim() != 3 || k_pool.dim() != 4 || k_pool.shape() != v_pool.shape() ||
      q.size(2) != k_pool.size(3) || k_pool.size(2) == 0 || q.size(1) % k_pool.size(2) != 0)
    fail(ErrorKind::kInvalidArgument,
         "paged_causal_attention: q {} must be [n, heads, d] and the pools {} [blocks, block_size, "
         "kv_heads, d] with kv_heads dividing heads",
         shape_string(q.shape()), shape_string(k_pool.shape()));
  const int64_t n = q.size(0), heads = q.size(1), d = q.size(2);
  const int64_t blocks = k_pool.size(0), block_size = k_pool.size(1), kv_heads = k_pool.size(2);
  const int64_t keys = q_offset + n;
  if (q_offset < 0 || int64_t(block_table.size()) * block_size < keys)
    fail(ErrorKind::kInvalidArgument,
         "paged_causal_attention: {} keys need {} blocks, the table has {}", keys,
         (keys + block_size - 1) / block_size, block_table.size());
  for (int64_t b = 0; b < (keys + block_size - 1) / block_size; ++b)
    if (block_table[size_t(b)] < 0 || block_table[size_t(b)] >= blocks)
      fail(ErrorKind::kInvalidArgument,
           "paged_causal_attention: block {} is outside the pool of {}", block_table[size_t(b)],
           blocks);

  Tensor out = Tensor::empty({n, heads * d}, DType::kF32);
  const int64_t group = heads / kv_heads, row = kv_heads * d, block_stride = block_size * row;
  const float *qd = q.data<float>(), *kd = k_pool.data<float>(), *vd = v_pool.data<float>();
  float* od = out.data<float>();
  ThreadPool::global().parallel_for(n * heads, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> acc(static_cast<size_t>(d));
    for (int64_t task = begin; task < end; ++task) {
      const int64_t t = task / heads, h = task % heads, kv_head = h / group;
      const float* query = qd + task * d;
      const int64_t visible = q_offset + t + 1;
      float running_max = -INFINITY, running_sum = 0.0f;
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t p = 0; p < visible; ++p) {
        const int64_t base = int64_t(block_table[size_t(p / block_size)]) * block_stride +
                             (p % block_size) * row + kv_head * d;
        const float* key = kd + base;
        float dot = 0.0f;
        for (int64_t i = 0; i < d; ++i) dot += query[i] * key[i];
        const float score = dot * scale;
        if (score > running_max) {  // rescale what was accumulated under the old maximum
          const float correction = std::exp(running_max - score);
          running_sum *= correction;
          for (auto& a : acc) a *= correction;
          running_max = score;
        }
        const float weight = std::exp(score - running_max);
        running_sum += weight;
        const float* value = vd + base;
        for (int64_t i = 0; i < d; ++i) acc[size_t(i)] += weight * value[i];
      }
      float* o = od + task * d;
      for (int64_t i = 0; i < d; ++i) o[i] = acc[size_t(i)] / running_sum;
    }
  });
  return out;
}

// Row copies: the step's token t goes to row slots[t] of the pools.
void store_kv(Tensor& k_pool, Tensor& v_pool, const Tensor& k, const Tensor& v,
              const PagedBatch& batch) {
  const PagedShape shape = check_store_kv(k_pool, v_pool, k, v, batch);
  const int64_t row = shape.kv_heads * shape.head_dim;
  const size_t bytes = size_t(row) * sizeof(float);
  for (int64_t t = 0; t < batch.total_tokens; ++t) {
    const int64_t slot = batch.host.slots[size_t(t)];
    std::memcpy(k_pool.data<float>() + slot * row, k.data<float>() + t * row, bytes);
    std::memcpy(v_pool.data<float>() + slot * row, v.data<float>() + t * row, bytes);
  }
}

// One paged_causal_attention per sequence, each writing its rows of the output.
Tensor paged_attention_batch(const Tensor& q, const Tensor& k_pool, const Tensor& v_pool,
                             const PagedBatch& batch, float scale) {
  const PagedShape shape = check_attention_batch(q, k_pool, v_pool, batch);
  Tensor out = Tensor::empty({batch.total_tokens, shape.heads * shape.head_dim}, DType::kF32);
  for (int64_t s = 0; s < batch.sequences; ++s) {
    const int64_t first = batch.host.query_start[size_t(s)];
    const int64_t last = batch.host.query_start[size_t(s + 1)];
    const Tensor attended = paged_causal_attention(q.slice_rows(first, last), k_pool, v_pool,
                                                   batch.host_table(s), batch.cached_tokens(s),
                                                   scale);
    std::memcpy(out.slice_rows(first, last).raw_data(), attended.raw_data(), attended.nbytes());
  }
  return out;
}

}  // namespace glimpse::ops::cpu
