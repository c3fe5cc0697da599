// Two kernels, picked by the number of queries:
// - a few queries (decode): one task per (query, head) streams its keys and values once with
//   vectorised dot products, threaded over heads;
// - many queries (prefill, vision): per head and block of queries, scores = Q·Kᵀ and out = P·V
//   are two OpenBLAS sgemm calls with a masked softmax between them.
#include <cblas.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "core/thread_pool.h"
#include "ops/attention.h"
#include "ops/softmax.h"

namespace glimpse::ops::cpu {
namespace {

constexpr int64_t kGemmMinQueries = 8;  // from this many queries per block, the sgemm path
constexpr int64_t kQueryBlock = 256;    // query rows per sgemm block (bounds the score buffer)

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

// Σ a[i]·b[i] with eight independent partial sums, so the compiler vectorises it.
#if defined(__x86_64__)
// With AVX2 and FMA where the CPU has them (an ifunc picks the clone at load).
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
float dot(const float* a, const float* b, int64_t n) {
  float partial[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int64_t l = 0; l < 8; ++l) partial[l] += a[i + l] * b[i + l];
  float sum = 0.0f;
  for (; i < n; ++i) sum += a[i] * b[i];
  for (float p : partial) sum += p;
  return sum;
}

// One query row against `keys` key/value rows `kv_stride` floats apart:
// 4·keys·d FLOPs, reads 2·keys·d floats. `scores` holds at least `keys` floats.
#if defined(__x86_64__)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
void attend_row(const float* q, const float* k, const float* v, int64_t kv_stride, int64_t keys,
                int64_t d, float scale, float* scores, float* out) {
  for (int64_t j = 0; j < keys; ++j) scores[j] = dot(q, k + j * kv_stride, d) * scale;
  softmax_row(scores, keys);
  std::fill(out, out + d, 0.0f);
  for (int64_t j = 0; j < keys; ++j) {
    const float* value = v + j * kv_stride;
    const float p = scores[j];
    for (int64_t i = 0; i < d; ++i) out[i] += p * value[i];
  }
}

// Query rows [0, rows) of one head (rows q_stride floats apart) against its KV head: row r sees
// keys [0, visible(r)), visible non-decreasing in r. Writes rows out_stride floats apart.
// 4·rows·keys·d FLOPs in two sgemm calls.
void attend_block(const float* q, int64_t q_stride, const float* k, const float* v,
                  int64_t kv_stride, int64_t rows, int64_t d, float scale,
                  const std::function<int64_t(int64_t)>& visible, float* out, int64_t out_stride,
                  std::vector<float>& scores) {
  const int64_t keys = visible(rows - 1);
  scores.resize(size_t(rows * keys));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(rows), blasint(keys), blasint(d),
              scale, q, blasint(q_stride), k, blasint(kv_stride), 0.0f, scores.data(),
              blasint(keys));
  ThreadPool::global().parallel_for(rows, 8, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* row = scores.data() + r * keys;
      const int64_t seen = visible(r);
      softmax_row(row, seen);
      std::fill(row + seen, row + keys, 0.0f);
    }
  });
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(rows), blasint(d), blasint(keys),
              1.0f, scores.data(), blasint(keys), v, blasint(kv_stride), 0.0f, out,
              blasint(out_stride));
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
  const int64_t group = g.heads / g.kv_heads, kv_stride = g.kv_heads * g.head_dim,
                q_stride = g.heads * g.head_dim;
  const float *qd = q.data<float>(), *kd = k.data<float>(), *vd = v.data<float>();
  float* od = out.data<float>();
  if (g.tokens < kGemmMinQueries) {
    ThreadPool::global().parallel_for(g.tokens * g.heads, 1, [&](int64_t begin, int64_t end) {
      std::vector<float> scores(size_t(g.keys));
      for (int64_t task = begin; task < end; ++task) {
        const int64_t t = task / g.heads, kv_head = task % g.heads / group;
        attend_row(qd + task * g.head_dim, kd + kv_head * g.head_dim, vd + kv_head * g.head_dim,
                   kv_stride, q_offset + t + 1, g.head_dim, scale, scores.data(),
                   od + task * g.head_dim);
      }
    });
    return out;
  }
  std::vector<float> scores;
  for (int64_t h = 0; h < g.heads; ++h)
    for (int64_t first = 0; first < g.tokens; first += kQueryBlock) {
      const int64_t rows = std::min(kQueryBlock, g.tokens - first), kv_head = h / group;
      attend_block(
          qd + first * q_stride + h * g.head_dim, q_stride, kd + kv_head * g.head_dim,
          vd + kv_head * g.head_dim, kv_stride, rows, g.head_dim, scale,
          [&](int64_t r) { return q_offset + first + r + 1; },
          od + first * q_stride + h * g.head_dim, q_stride, scores);
    }
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
  for (size_t s = 1; s < cu_seqlens.size(); ++s)
    if (cu_seqlens[s] < cu_seqlens[s - 1])
      fail(ErrorKind::kInvalidArgument, "segment_attention: cu_seqlens decreases at index {}", s);
  Tensor out = Tensor::empty({g.tokens, g.heads * g.head_dim}, DType::kF32);
  const int64_t stride = g.heads * g.head_dim;
  const float *qd = q.data<float>(), *kd = k.data<float>(), *vd = v.data<float>();
  float* od = out.data<float>();
  std::vector<float> scores;
  for (size_t s = 0; s + 1 < cu_seqlens.size(); ++s) {
    const int64_t start = cu_seqlens[s], length = cu_seqlens[s + 1] - start;
    if (length == 0) continue;
    const float* k_seg = kd + start * stride;
    const float* v_seg = vd + start * stride;
    for (int64_t h = 0; h < g.heads; ++h)
      for (int64_t first = 0; first < length; first += kQueryBlock) {
        const int64_t rows = std::min(kQueryBlock, length - first);
        const int64_t offset = (start + first) * stride + h * g.head_dim;
        attend_block(
            qd + offset, stride, k_seg + h * g.head_dim, v_seg + h * g.head_dim, stride, rows,
            g.head_dim, scale, [&](int64_t) { return length; }, od + offset, stride, scores);
      }
  }
  return out;
}

}  // namespace glimpse::ops::cpu
