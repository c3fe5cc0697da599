// Two kernels, picked by the number of queries:
// - a few queries (decode): split-key ("flash decoding") tasks per (query, KV head, chunk of
//   keys) read each key and value once for all query heads sharing it, and a merge step combines
//   the chunks' partial softmaxes;
// - many queries (prefill, vision): per head and block of queries, scores = Q·Kᵀ and out = P·V
//   are two OpenBLAS sgemm calls with a masked softmax between them.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <utility>
#include <vector>

#include "core/thread_pool.h"
#include "ops/attention.h"
#include "ops/convert.h"
#include "ops/fused.h"
#include "ops/shape_checks.h"
#include "ops/softmax.h"

namespace glimpse::ops::cpu {
namespace {

constexpr int64_t kGemmMinQueries = 8;  // from this many queries per block, the sgemm path
constexpr int64_t kQueryBlock = 256;    // query rows per sgemm block (bounds the score buffer)
constexpr int64_t kKeyChunk = 256;      // keys per decode task

struct Geometry {
  int64_t tokens, heads, kv_heads, head_dim, keys;
};

Geometry check_qkv(const Tensor& q, const Tensor& k, const Tensor& v, const char* op) {
  check_f32(q, op, "q");
  check_f32(k, op, "k");
  check_f32(v, op, "v");
  check_qkv_shapes(q, k, v, op);
  return {q.size(0), q.size(1), k.size(1), q.size(2), k.size(0)};
}

// Σ a[i]·b[i] with eight independent partial sums, so the compiler vectorises it (inlined into
// each target clone of its caller).
inline float dot(const float* a, const float* b, int64_t n) {
  float partial[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int64_t l = 0; l < 8; ++l) partial[l] += a[i + l] * b[i + l];
  float sum = 0.0f;
  for (; i < n; ++i) sum += a[i] * b[i];
  for (float p : partial) sum += p;
  return sum;
}

// The `group` query heads (group·d floats, contiguous) that share one KV head, against its keys
// [0, keys) (rows kv_stride floats apart). Per head writes the partial softmax of these keys:
// partial = [max score, Σ exp(score − max), Σ exp(score − max)·v (d floats)].
// Reads keys·d floats of K and of V once; 4·group·keys·d FLOPs. `scores`: group·keys floats.
// Cloned for AVX2/FMA where the CPU has them (an ifunc picks the clone at load).
#if defined(__x86_64__)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
void attend_key_chunk(const float* q, const float* k, const float* v, int64_t kv_stride,
                      int64_t keys, int64_t group, int64_t d, float scale, float* scores,
                      float* partial) {
  for (int64_t j = 0; j < keys; ++j)
    for (int64_t h = 0; h < group; ++h)
      scores[h * keys + j] = dot(q + h * d, k + j * kv_stride, d) * scale;
  for (int64_t h = 0; h < group; ++h) {
    float* row = scores + h * keys;
    float* part = partial + h * (2 + d);
    float max_score = -INFINITY, sum = 0.0f;
    for (int64_t j = 0; j < keys; ++j) max_score = std::max(max_score, row[j]);
    for (int64_t j = 0; j < keys; ++j) sum += (row[j] = std::exp(row[j] - max_score));
    part[0] = max_score, part[1] = sum;
    std::fill(part + 2, part + 2 + d, 0.0f);
  }
  for (int64_t j = 0; j < keys; ++j) {
    const float* value = v + j * kv_stride;
    for (int64_t h = 0; h < group; ++h) {
      float* acc = partial + h * (2 + d) + 2;
      const float p = scores[h * keys + j];
      for (int64_t i = 0; i < d; ++i) acc[i] += p * value[i];
    }
  }
}

// Combines `chunks` partials (stride 2 + d apart, chunk_stride between chunks) into the output.
void merge_partials(const float* partial, int64_t chunks, int64_t chunk_stride, int64_t d,
                    float* out) {
  float max_score = -INFINITY;
  for (int64_t c = 0; c < chunks; ++c) max_score = std::max(max_score, partial[c * chunk_stride]);
  float sum = 0.0f;
  std::fill(out, out + d, 0.0f);
  for (int64_t c = 0; c < chunks; ++c) {
    const float* part = partial + c * chunk_stride;
    const float weight = std::exp(part[0] - max_score);
    sum += weight * part[1];
    for (int64_t i = 0; i < d; ++i) out[i] += weight * part[2 + i];
  }
  for (int64_t i = 0; i < d; ++i) out[i] /= sum;
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
    // Tasks (token, KV head, key chunk); partials laid out [token][KV head][chunk][group][2 + d].
    const int64_t max_chunks = (q_offset + g.tokens + kKeyChunk - 1) / kKeyChunk;
    const int64_t part_size = 2 + g.head_dim, chunk_stride = group * part_size;
    std::vector<float> partials(size_t(g.tokens * g.kv_heads * max_chunks * chunk_stride));
    auto partial_at = [&](int64_t t, int64_t kv_head, int64_t chunk) {
      return partials.data() + ((t * g.kv_heads + kv_head) * max_chunks + chunk) * chunk_stride;
    };
    ThreadPool::global().parallel_for(
        g.tokens * g.kv_heads * max_chunks, 1, [&](int64_t begin, int64_t end) {
          std::vector<float> scores(size_t(group * kKeyChunk));
          for (int64_t task = begin; task < end; ++task) {
            const int64_t chunk = task % max_chunks, kv_head = task / max_chunks % g.kv_heads,
                          t = task / max_chunks / g.kv_heads;
            const int64_t first = chunk * kKeyChunk, visible = q_offset + t + 1;
            if (first >= visible) continue;  // an earlier query sees fewer chunks
            const int64_t offset = first * kv_stride + kv_head * g.head_dim;
            attend_key_chunk(qd + t * q_stride + kv_head * group * g.head_dim, kd + offset,
                             vd + offset, kv_stride, std::min(kKeyChunk, visible - first), group,
                             g.head_dim, scale, scores.data(), partial_at(t, kv_head, chunk));
          }
        });
    for (int64_t t = 0; t < g.tokens; ++t) {
      const int64_t chunks = (q_offset + t + 1 + kKeyChunk - 1) / kKeyChunk;
      for (int64_t h = 0; h < g.heads; ++h)
        merge_partials(partial_at(t, h / group, 0) + h % group * part_size, chunks, chunk_stride,
                       g.head_dim, od + t * q_stride + h * g.head_dim);
    }
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
  if (q.dtype() != DType::kF32) {  // half q/k/v: computed in f32, the output rounded back
    for (const auto& [t, what] : {std::pair{&q, "q"}, {&k, "k"}, {&v, "v"}}) {
      check_float(*t, "segment_attention", what);
      if (t->dtype() != q.dtype())
        fail(ErrorKind::kInvalidArgument, "segment_attention: q is {}, {} {}: they must match",
             dtype_name(q.dtype()), what, dtype_name(t->dtype()));
    }
    return convert(segment_attention(convert(q, DType::kF32), convert(k, DType::kF32),
                                     convert(v, DType::kF32), cu_seqlens, scale),
                   q.dtype());
  }
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

Tensor rotary_segment_attention(const Tensor& qkv, int64_t heads, const Tensor& cos,
                                const Tensor& sin, RotaryLayout layout,
                                std::span<const int64_t> cu_seqlens, float scale) {
  const auto [q, k, v] = cpu::split_qkv_rotary(qkv, heads, heads, cos, sin, layout, qkv.dtype());
  return cpu::segment_attention(q, k, v, cu_seqlens, scale);
}

}  // namespace glimpse::ops::cpu
