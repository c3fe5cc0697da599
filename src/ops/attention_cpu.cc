#include <vector>

#include "core/thread_pool.h"
#include "ops/attention.h"
#include "ops/softmax.h"

namespace glimpse::ops::cpu {
namespace {

struct Geometry {
  int64_t tokens, heads, kv_heads, head_dim, keys;
};

Geometry check_qkv(const Tensor& q, const Tensor& k, const Tensor& v, const char* op) {
  check_f32(q, op, "q");
  check_f32(k, op, "k");
  check_f32(v, op, "v");
  if (q.dim() != 3 || k.dim() != 3 || k.shape() != v.shape() || q.size(2) != k.size(2) ||
      k.size(1) == 0 || q.size(1) % k.size(1) != 0)
    fail(ErrorKind::kInvalidArgument,
         "{}: q {} must be [n, heads, d] and k {}, v {} [keys, kv_heads, d] with kv_heads dividing "
         "heads",
         op, shape_string(q.shape()), shape_string(k.shape()), shape_string(v.shape()));
  return {q.size(0), q.size(1), k.size(1), q.size(2), k.size(0)};
}

// One query row against `keys` consecutive key/value rows `row_stride` floats apart:
// 4·keys·d FLOPs, reads 2·keys·d floats. `scores` holds at least `keys` floats.
void attend_one(const float* q, const float* k, const float* v, int64_t row_stride, int64_t keys,
                int64_t d, float scale, float* scores, float* out) {
  for (int64_t j = 0; j < keys; ++j) {
    const float* key = k + j * row_stride;
    float dot = 0.0f;
    for (int64_t i = 0; i < d; ++i) dot += q[i] * key[i];
    scores[j] = dot * scale;
  }
  softmax_row(scores, keys);
  for (int64_t i = 0; i < d; ++i) out[i] = 0.0f;
  for (int64_t j = 0; j < keys; ++j) {
    const float* value = v + j * row_stride;
    const float p = scores[j];
    for (int64_t i = 0; i < d; ++i) out[i] += p * value[i];
  }
}

}  // namespace

Tensor causal_attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t q_offset,
                        float scale) {
  const Geometry g = check_qkv(q, k, v, "causal_attention");
  if (q_offset < 0 || q_offset + g.tokens > g.keys)
    fail(ErrorKind::kInvalidArgument,
         "causal_attention: {} queries at offset {} need {} keys, have {}", g.tokens, q_offset,
         q_offset + g.tokens, g.keys);
  Tensor out = Tensor::empty({g.tokens, g.heads * g.head_dim}, DType::kF32);
  const int64_t group = g.heads / g.kv_heads, row_stride = g.kv_heads * g.head_dim;
  const float *qd = q.data<float>(), *kd = k.data<float>(), *vd = v.data<float>();
  float* od = out.data<float>();
  ThreadPool::global().parallel_for(g.tokens * g.heads, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(size_t(g.keys));
    for (int64_t task = begin; task < end; ++task) {
      const int64_t t = task / g.heads, h = task % g.heads, kv_head = h / group;
      attend_one(qd + task * g.head_dim, kd + kv_head * g.head_dim, vd + kv_head * g.head_dim,
                 row_stride, q_offset + t + 1, g.head_dim, scale, scores.data(),
                 od + task * g.head_dim);
    }
  });
  return out;
}

Tensor segment_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                         std::span<const int64_t> cu_seqlens, float scale) {
  const Geometry g = check_qkv(q, k, v, "segment_attention");
  if (g.keys != g.tokens || g.kv_heads != g.heads)
    fail(ErrorKind::kInvalidArgument, "segment_attention: q {} and k {} must have the same shape",
         shape_string(q.shape()), shape_string(k.shape()));
  if (cu_seqlens.size() < 2 || cu_seqlens.front() != 0 || cu_seqlens.back() != g.tokens)
    fail(ErrorKind::kInvalidArgument, "segment_attention: cu_seqlens must run from 0 to {} tokens",
         g.tokens);
  std::vector<int64_t> segment_of(size_t(g.tokens));
  for (size_t s = 0; s + 1 < cu_seqlens.size(); ++s) {
    if (cu_seqlens[s + 1] < cu_seqlens[s])
      fail(ErrorKind::kInvalidArgument, "segment_attention: cu_seqlens decreases at index {}",
           s + 1);
    for (int64_t t = cu_seqlens[s]; t < cu_seqlens[s + 1]; ++t) segment_of[size_t(t)] = int64_t(s);
  }
  Tensor out = Tensor::empty({g.tokens, g.heads * g.head_dim}, DType::kF32);
  const int64_t row_stride = g.heads * g.head_dim;
  const float *qd = q.data<float>(), *kd = k.data<float>(), *vd = v.data<float>();
  float* od = out.data<float>();
  ThreadPool::global().parallel_for(g.tokens * g.heads, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(size_t(g.tokens));
    for (int64_t task = begin; task < end; ++task) {
      const int64_t t = task / g.heads, h = task % g.heads;
      const int64_t seg = segment_of[size_t(t)], first = cu_seqlens[size_t(seg)];
      const int64_t offset = first * row_stride + h * g.head_dim;
      attend_one(qd + task * g.head_dim, kd + offset, vd + offset, row_stride,
                 cu_seqlens[size_t(seg) + 1] - first, g.head_dim, scale, scores.data(),
                 od + task * g.head_dim);
    }
  });
  return out;
}

}  // namespace glimpse::ops::cpu
