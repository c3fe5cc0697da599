// The fused decoder kernels. residual_rms_norm: reads hidden and x, writes hidden and next
// (16·d bytes per row instead of 32·d over four launches), float4-wide with the row in registers
// when d % 4 == 0. split_qkv_rotary: reads and writes each q/k/v element once (4 bytes, and 4 or 2
// to write; 2 to read from a half qkv) instead of a copy pass plus a rotary pass over q and k, four
// (eight from a half qkv) features a thread where the layout allows.
#include "ops/common_cuda.cuh"
#include "ops/fused_kernels_cuda.h"
#include "ops/half_cuda.cuh"

namespace glimpse::ops::cuda_kernels {
namespace {

constexpr int kThreads = 256;

__global__ void residual_rms_norm_kernel(float* __restrict__ hidden, const float* __restrict__ x,
                                         const float* __restrict__ x_weight,
                                         const float* __restrict__ next_weight,
                                         float* __restrict__ next, int d, float eps) {
  __shared__ float scratch[32];
  const int64_t offset = int64_t(blockIdx.x) * d;
  float sum_sq = 0.0f;
  for (int i = threadIdx.x; i < d; i += blockDim.x) sum_sq += x[offset + i] * x[offset + i];
  const float inv_rms_x = 1.0f / sqrtf(block_sum(sum_sq, scratch) / float(d) + eps);
  float sum_sq_hidden = 0.0f;
  for (int i = threadIdx.x; i < d; i += blockDim.x) {
    // Rounded as the plain ops: y = w·(x·r), then hidden + y.
    const float h = hidden[offset + i] + x_weight[i] * (x[offset + i] * inv_rms_x);
    hidden[offset + i] = h;
    sum_sq_hidden += h * h;
  }
  if (!next_weight) return;
  // Every thread reads back only the elements it wrote itself: no barrier needed for hidden.
  const float inv_rms_h = 1.0f / sqrtf(block_sum(sum_sq_hidden, scratch) / float(d) + eps);
  for (int i = threadIdx.x; i < d; i += blockDim.x)
    next[offset + i] = next_weight[i] * (hidden[offset + i] * inv_rms_h);
}

// The same with float4 accesses and each row held in registers between the passes: one block per
// row of up to 1024 threads, kQuads float4 of x and of hidden per thread. A decode step has one
// row of 4,096: the strided loop above walks it in 16 dependent steps per pass (≈ 20 µs, latency
// bound); here every load of the row is in flight at once.
template <int kQuads>
__global__ void __launch_bounds__(1024)
    residual_rms_norm_vec_kernel(float4* __restrict__ hidden, const float4* __restrict__ x,
                                 const float4* __restrict__ x_weight,
                                 const float4* __restrict__ next_weight, float4* __restrict__ next,
                                 int quads, float eps) {
  __shared__ float scratch[32];
  const int64_t offset = int64_t(blockIdx.x) * quads;
  const float d = float(4 * quads);
  float4 xs[kQuads], hs[kQuads];
  float sum_sq = 0.0f;
#pragma unroll
  for (int k = 0; k < kQuads; ++k) {
    const int i = int(threadIdx.x) + k * int(blockDim.x);
    if (i >= quads) continue;
    xs[k] = x[offset + i];
    hs[k] = hidden[offset + i];
    sum_sq += xs[k].x * xs[k].x + xs[k].y * xs[k].y + xs[k].z * xs[k].z + xs[k].w * xs[k].w;
  }
  const float inv_rms_x = 1.0f / sqrtf(block_sum(sum_sq, scratch) / d + eps);
  float sum_sq_hidden = 0.0f;
#pragma unroll
  for (int k = 0; k < kQuads; ++k) {
    const int i = int(threadIdx.x) + k * int(blockDim.x);
    if (i >= quads) continue;
    const float4 w = x_weight[i];
    float4& h = hs[k];
    h.x += w.x * (xs[k].x * inv_rms_x);
    h.y += w.y * (xs[k].y * inv_rms_x);
    h.z += w.z * (xs[k].z * inv_rms_x);
    h.w += w.w * (xs[k].w * inv_rms_x);
    hidden[offset + i] = h;
    sum_sq_hidden += h.x * h.x + h.y * h.y + h.z * h.z + h.w * h.w;
  }
  if (!next_weight) return;
  const float inv_rms_h = 1.0f / sqrtf(block_sum(sum_sq_hidden, scratch) / d + eps);
#pragma unroll
  for (int k = 0; k < kQuads; ++k) {
    const int i = int(threadIdx.x) + k * int(blockDim.x);
    if (i >= quads) continue;
    const float4 w = next_weight[i], h = hs[k];
    next[offset + i] = make_float4(w.x * (h.x * inv_rms_h), w.y * (h.y * inv_rms_h),
                                   w.z * (h.z * inv_rms_h), w.w * (h.w * inv_rms_h));
  }
}

// Where head row `head_row` of qkv goes (t · slots + slot, slots = heads + 2·kv_heads, q heads
// first, then k, then v): its output row, its token t and its slot. Shared by the split kernels.
template <typename Out>
struct HeadRowTarget {
  Out* out;
  int64_t t;
  int slot;
};

template <typename Out>
__device__ inline HeadRowTarget<Out> head_row_target(int64_t head_row, int heads, int kv_heads,
                                                     int d, Out* q, Out* k, Out* v) {
  const int slots = heads + 2 * kv_heads;
  const int slot = int(head_row % slots);
  const int64_t t = head_row / slots;
  Out* out = slot < heads              ? q + (t * heads + slot) * d
             : slot < heads + kv_heads ? k + (t * kv_heads + (slot - heads)) * d
                                       : v + (t * kv_heads + (slot - heads - kv_heads)) * d;
  return {out, t, slot};
}

// One thread per two features of a head row: a rotary pair (i·first_step, i·first_step +
// second_offset) for i < pairs, else two neighbours of the unrotated tail [2·pairs, d). The v slots
// and the tails are copies. Reads sizeof(In) and writes sizeof(Out) per element.
template <typename In, typename Out>
__global__ void split_qkv_rotary_kernel(const In* __restrict__ qkv, Out* __restrict__ q,
                                        Out* __restrict__ k, Out* __restrict__ v,
                                        const float* __restrict__ cos,
                                        const float* __restrict__ sin, int64_t n, int heads,
                                        int kv_heads, int d, int pairs, int first_step,
                                        int second_offset) {
  const int slots = heads + 2 * kv_heads, half = d / 2;
  const int64_t total = n * slots * half;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int p = int(i % half);
    const int64_t head_row = i / half;  // t · slots + slot
    const In* in = qkv + head_row * d;
    const auto [out, t, slot] = head_row_target(head_row, heads, kv_heads, d, q, k, v);
    const bool rotated = p < pairs && slot < heads + kv_heads;
    const int a = p < pairs ? p * first_step : 2 * p;  // 2·pairs + 2·(p − pairs)
    const int b = p < pairs ? a + second_offset : a + 1;
    const float x = to_f32(in[a]), y = to_f32(in[b]);
    if (rotated) {
      const float c = cos[t * pairs + p], s = sin[t * pairs + p];
      out[a] = from_f32<Out>(x * c - y * s);
      out[b] = from_f32<Out>(y * c + x * s);
    } else {
      out[a] = from_f32<Out>(x);
      out[b] = from_f32<Out>(y);
    }
  }
}

// The same, four consecutive features of a head row per thread (16- or 8-byte loads and stores): for d % 4 == 0 with whole quads of rotated features, i.e. halves layout (first_step 1,
// second_offset pairs) with pairs % 4 == 0, or interleaved (first_step 2, second_offset 1) with
// pairs even. A rotated feature's partner is the other half's quad (halves: read again, mostly
// from L1, since the thread beside it in the block reads it too) or its neighbour in the quad.
template <typename In, typename Out, bool kHalves>
__global__ void split_qkv_rotary_vec_kernel(const In* __restrict__ qkv, Out* __restrict__ q,
                                            Out* __restrict__ k, Out* __restrict__ v,
                                            const float* __restrict__ cos,
                                            const float* __restrict__ sin, int64_t n, int heads,
                                            int kv_heads, int d, int pairs) {
  const int slots = heads + 2 * kv_heads, quads = d / 4;
  const int64_t total = n * slots * quads;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int e = int(i % quads) * 4;  // first feature of the quad
    const int64_t head_row = i / quads;
    const In* in = qkv + head_row * d;
    const auto [out, t, slot] = head_row_target(head_row, heads, kv_heads, d, q, k, v);
    const float4 x = load4(in + e);
    if (slot >= heads + kv_heads || e >= 2 * pairs) {  // v, or the unrotated tail
      store4(out + e, x);
      continue;
    }
    float4 y;
    if constexpr (kHalves) {
      // Pair p = (p, p + pairs): the first half's out = x·c − y·s, the second's x·c + y·s.
      const bool first = e < pairs;
      const int p = first ? e : e - pairs;
      const float4 partner = load4(in + (first ? e + pairs : p));
      const float4 c = *reinterpret_cast<const float4*>(cos + t * pairs + p);
      const float4 sn = *reinterpret_cast<const float4*>(sin + t * pairs + p);
      const float sign = first ? -1.0f : 1.0f;
      y = make_float4(fmaf(sign * partner.x, sn.x, x.x * c.x), fmaf(sign * partner.y, sn.y, x.y * c.y),
                      fmaf(sign * partner.z, sn.z, x.z * c.z), fmaf(sign * partner.w, sn.w, x.w * c.w));
    } else {
      // Pairs (e, e + 1) and (e + 2, e + 3): angles e / 2 and e / 2 + 1.
      const int p = e / 2;
      const float c0 = cos[t * pairs + p], s0 = sin[t * pairs + p];
      const float c1 = cos[t * pairs + p + 1], s1 = sin[t * pairs + p + 1];
      y = make_float4(x.x * c0 - x.y * s0, x.y * c0 + x.x * s0, x.z * c1 - x.w * s1,
                      x.w * c1 + x.z * s1);
    }
    store4(out + e, y);
  }
}

// The halves layout from a half qkv, eight features a thread (16-byte loads and stores; pairs % 8
// == 0): the same arithmetic as the kernel above with half as many memory instructions. Only the
// first slot_count slots of each row are split: all of them (the vision tower's split: 12 MB read
// and 12 MB written per block at 512²), or q and k alone, into `packed` laid out as qkv instead of
// q/k/v when it is set (rotary_segment_attention: 8 MB and 8 MB, v is read in place).
template <typename In, typename Out>
__global__ void split_qkv_rotary_halves8_kernel(const In* __restrict__ qkv, Out* __restrict__ q,
                                                Out* __restrict__ k, Out* __restrict__ v,
                                                const float* __restrict__ cos,
                                                const float* __restrict__ sin, int64_t n, int heads,
                                                int kv_heads, int d, int pairs, int slot_count,
                                                Out* __restrict__ packed) {
  const int slots = heads + 2 * kv_heads, octs = d / 8;
  const int64_t total = n * slot_count * octs;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int e = int(i % octs) * 8;  // first feature of the eight
    const int64_t split_row = i / octs;
    const int64_t head_row = split_row / slot_count * slots + split_row % slot_count;
    const In* in = qkv + head_row * d;
    auto [out, t, slot] = head_row_target(head_row, heads, kv_heads, d, q, k, v);
    if (packed) out = packed + head_row * d;
    float x[8];
    load8(in + e, x);
    if (slot >= heads + kv_heads || e >= 2 * pairs) {  // v, or the unrotated tail
      store8(out + e, x);
      continue;
    }
    const bool first = e < pairs;
    const int p = first ? e : e - pairs;
    float partner[8], c[8], sn[8], y[8];
    load8(in + (first ? e + pairs : p), partner);
    load8(cos + t * pairs + p, c);
    load8(sin + t * pairs + p, sn);
    const float sign = first ? -1.0f : 1.0f;
#pragma unroll
    for (int j = 0; j < 8; ++j) y[j] = fmaf(sign * partner[j], sn[j], x[j] * c[j]);
    store8(out + e, y);
  }
}

template <typename In, typename Out>
void launch_split_qkv_rotary(const In* qkv, void* q, void* k, void* v, const float* cos,
                             const float* sin, int64_t n, int heads, int kv_heads, int d, int pairs,
                             int first_step, int second_offset) {
  const int64_t slots = heads + 2 * kv_heads;
  const bool halves = first_step == 1 && second_offset == pairs && pairs % 4 == 0;
  const bool interleaved = first_step == 2 && second_offset == 1 && pairs % 2 == 0;
  auto* qo = static_cast<Out*>(q);
  auto* ko = static_cast<Out*>(k);
  auto* vo = static_cast<Out*>(v);
  if (sizeof(In) == 2 && halves && pairs % 8 == 0 && d % 8 == 0 && 2 * pairs <= d &&
      aligned16(qkv, cos, sin, q, k, v)) {
    split_qkv_rotary_halves8_kernel<In, Out><<<grid_for(n * slots * (d / 8), kThreads), kThreads>>>(
        qkv, qo, ko, vo, cos, sin, n, heads, kv_heads, d, pairs, int(slots), nullptr);
    return;
  }
  if (d % 4 == 0 && 2 * pairs <= d && (halves || interleaved) && aligned16(qkv, cos, sin)) {
    const unsigned grid = grid_for(n * slots * (d / 4), kThreads);
    if (halves)
      split_qkv_rotary_vec_kernel<In, Out, true>
          <<<grid, kThreads>>>(qkv, qo, ko, vo, cos, sin, n, heads, kv_heads, d, pairs);
    else
      split_qkv_rotary_vec_kernel<In, Out, false>
          <<<grid, kThreads>>>(qkv, qo, ko, vo, cos, sin, n, heads, kv_heads, d, pairs);
    return;
  }
  split_qkv_rotary_kernel<<<grid_for(n * slots * (d / 2), kThreads), kThreads>>>(
      qkv, qo, ko, vo, cos, sin, n, heads, kv_heads, d, pairs, first_step, second_offset);
}

}  // namespace

cudaError_t residual_rms_norm(float* hidden, const float* x, const float* x_weight,
                              const float* next_weight, float* next, int64_t rows, int d,
                              float eps) {
  if (rows == 0) return cudaSuccess;
  const int quads = d / 4;
  if (d % 4 == 0 && quads <= 4 * 1024 && aligned16(hidden, x, x_weight, next) &&
      (!next_weight || aligned16(next_weight))) {
    // Threads: a multiple of 32 covering the row in at most 4 float4 each.
    const int per_thread = (quads + 1023) / 1024;
    const int threads = ((quads + per_thread - 1) / per_thread + 31) / 32 * 32;
    auto* h4 = reinterpret_cast<float4*>(hidden);
    const auto* x4 = reinterpret_cast<const float4*>(x);
    const auto* w4 = reinterpret_cast<const float4*>(x_weight);
    const auto* n4 = reinterpret_cast<const float4*>(next_weight);
    auto* out4 = reinterpret_cast<float4*>(next);
    if (per_thread == 1)
      residual_rms_norm_vec_kernel<1>
          <<<unsigned(rows), threads>>>(h4, x4, w4, n4, out4, quads, eps);
    else if (per_thread == 2)
      residual_rms_norm_vec_kernel<2>
          <<<unsigned(rows), threads>>>(h4, x4, w4, n4, out4, quads, eps);
    else
      residual_rms_norm_vec_kernel<4>
          <<<unsigned(rows), threads>>>(h4, x4, w4, n4, out4, quads, eps);
    return cudaGetLastError();
  }
  residual_rms_norm_kernel<<<unsigned(rows), kThreads>>>(hidden, x, x_weight, next_weight, next, d,
                                                         eps);
  return cudaGetLastError();
}

template <typename In>
void split_qkv_rotary_from(const In* qkv, void* q, void* k, void* v, FloatType out,
                           const float* cos, const float* sin, int64_t n, int heads, int kv_heads,
                           int d, int pairs, int first_step, int second_offset) {
  if (out == FloatType::kF32)
    launch_split_qkv_rotary<In, float>(qkv, q, k, v, cos, sin, n, heads, kv_heads, d, pairs,
                                       first_step, second_offset);
  else if (out == FloatType::kBF16)
    launch_split_qkv_rotary<In, __nv_bfloat16>(qkv, q, k, v, cos, sin, n, heads, kv_heads, d,
                                               pairs, first_step, second_offset);
  else
    launch_split_qkv_rotary<In, __half>(qkv, q, k, v, cos, sin, n, heads, kv_heads, d, pairs,
                                        first_step, second_offset);
}

cudaError_t split_qkv_rotary(const void* qkv, FloatType in, void* q, void* k, void* v,
                             FloatType out, const float* cos, const float* sin, int64_t n,
                             int heads, int kv_heads, int d, int pairs, int first_step,
                             int second_offset) {
  if (d % 2 != 0) return cudaErrorInvalidValue;
  if (n * (heads + 2 * kv_heads) * d == 0) return cudaSuccess;
  if (in == FloatType::kF32)
    split_qkv_rotary_from(static_cast<const float*>(qkv), q, k, v, out, cos, sin, n, heads,
                          kv_heads, d, pairs, first_step, second_offset);
  else if (in == FloatType::kBF16)
    split_qkv_rotary_from(static_cast<const __nv_bfloat16*>(qkv), q, k, v, out, cos, sin, n,
                          heads, kv_heads, d, pairs, first_step, second_offset);
  else
    split_qkv_rotary_from(static_cast<const __half*>(qkv), q, k, v, out, cos, sin, n, heads,
                          kv_heads, d, pairs, first_step, second_offset);
  return cudaGetLastError();
}

cudaError_t rotate_qk_packed_halves(const void* qkv, void* rotated, const float* cos,
                                    const float* sin, int64_t n, int heads, int kv_heads, int d) {
  if (d % 16 != 0 || !aligned16(qkv, rotated, cos, sin)) return cudaErrorInvalidValue;
  if (n * (heads + kv_heads) == 0) return cudaSuccess;
  using T = __nv_bfloat16;
  split_qkv_rotary_halves8_kernel<T, T>
      <<<grid_for(n * (heads + kv_heads) * (d / 8), kThreads), kThreads>>>(
          static_cast<const T*>(qkv), nullptr, nullptr, nullptr, cos, sin, n, heads, kv_heads, d,
          d / 2, heads + kv_heads, static_cast<T*>(rotated));
  return cudaGetLastError();
}

}  // namespace glimpse::ops::cuda_kernels
