// What the two flash-attention kernels share (flash_attention_cuda.cu: mma.sync, sm_80+;
// flash_attention_hopper_pipelined_cuda.cu: wgmma, sm_90a): the rows a thread owns, Q loaded as
// bf16 MMA A fragments, the key mask, the online softmax of one key tile and the final store.
//
// Both keep a thread's scores and output in the m16n8 accumulator layout, which mma.sync's C and
// wgmma's D share: per 8-column tile n, lane l = 4·g + t holds (row g, cols 2t, 2t+1) in [n][0..1]
// and (row g + 8, same cols) in [n][2..3], rows relative to the warp's 16. The A fragment of a
// k16 step is the same for both instructions too: (row g, cols 2t..2t+1), (g+8, ...),
// (g, 2t+8..), (g+8, 2t+8..).
#pragma once

#include <cuda_bf16.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "ops/kernels_cuda.h"

namespace glimpse::ops::cuda_kernels::flash {

__device__ inline uint32_t shared_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global → shared, bypassing L1; `valid` false writes 16 zero bytes and reads nothing.
__device__ inline void cp_async_16(uint32_t dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
               "r"(valid ? 16 : 0));
}
__device__ inline void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::);
}
// Waits until at most `kPending` of this thread's committed groups are still in flight.
template <int kPending>
__device__ inline void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}

// Two floats rounded to nearest bf16, `low` in the low half (the lower column of an MMA pair).
__device__ inline uint32_t pack_bf16(float low, float high) {
  const __nv_bfloat162 pair = __floats2bfloat162_rn(low, high);
  uint32_t bits;
  memcpy(&bits, &pair, sizeof(bits));
  return bits;
}

// 2^x on the special-function unit; 2^-inf = 0.
__device__ inline float exp2_approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// The keys [begin, end) query token t sees.
struct Keys {
  int begin, end;
};
__device__ inline Keys token_keys(const FlashAttentionArgs& a, int t) {
  if (a.key_ranges) return {a.key_ranges[2 * t], a.key_ranges[2 * t + 1]};
  return {0, int(a.q_offset) + t + 1};
}

// A block of kRows query rows from `row0` on, against KV head `kv_head`. Row m is token m / group,
// head kv_head·group + m % group (the heads of one token are neighbours in q and out, so a tile's
// rows are runs of contiguous memory; GQA 32/2 packs 16 heads of a token into 16 rows).
struct BlockKeys {
  int lo, hi;            // the union of the rows' key ranges: the tiles to visit
  int full_lo, full_hi;  // their intersection: tiles inside it need no mask
};
__device__ inline BlockKeys block_keys(const FlashAttentionArgs& a, int64_t row0, int rows_per_block) {
  const int group = a.heads / a.kv_heads;
  const int64_t rows = int64_t(a.tokens) * group;
  // Both bounds grow with the token, so the first and last tokens give them.
  const Keys first = token_keys(a, int(row0 / group));
  const Keys last = token_keys(a, int((min(row0 + rows_per_block, rows) - 1) / group));
  return {first.begin, last.end, last.begin, first.end};
}

// The two rows of a thread (g and g + 8 of its warp's 16, from `warp_row0`): where they live in
// out (and in q when it is packed), and their keys.
struct ThreadRows {
  int64_t offset[2];
  bool valid[2];
  Keys keys[2];
};
__device__ inline ThreadRows thread_rows(const FlashAttentionArgs& a, int64_t warp_row0, int g,
                                         int kv_head, int head_dim) {
  const int group = a.heads / a.kv_heads;
  const int64_t rows = int64_t(a.tokens) * group;
  ThreadRows r;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int64_t m = warp_row0 + g + 8 * h;
    r.valid[h] = m < rows;
    const int token = r.valid[h] ? int(m / group) : 0;
    const int head = kv_head * group + int(m % group);
    r.offset[h] = (int64_t(token) * a.heads + head) * head_dim;
    r.keys[h] = r.valid[h] ? token_keys(a, token) : Keys{0, 0};
  }
  return r;
}

// Q of the thread's rows as bf16 A fragments [k16 step][4 registers]: an f32 q rounded in
// registers, a bf16 q read as is; invalid rows are zeros. Q's tokens are a.q_token_stride apart
// (the row's place in q is derived here, once, so that the key loop holds only its place in out).
template <int kDim, typename Q>
__device__ inline void load_q_fragments(const FlashAttentionArgs& a, const ThreadRows& rows, int t4,
                                        uint32_t (&q_frag)[kDim / 16][4]) {
  const Q* q = static_cast<const Q*>(a.q);
  int64_t q_offset[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int64_t head_row = rows.offset[h] / kDim;  // token · heads + head
    q_offset[h] = head_row / a.heads * a.q_token_stride + head_row % a.heads * kDim;
  }
#pragma unroll
  for (int s = 0; s < kDim / 16; ++s)
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int h = r & 1, col = s * 16 + 2 * t4 + 8 * (r >> 1);
      if constexpr (std::is_same_v<Q, float>) {
        const float2 x = rows.valid[h] ? *reinterpret_cast<const float2*>(q + q_offset[h] + col)
                                       : make_float2(0.0f, 0.0f);
        q_frag[s][r] = pack_bf16(x.x, x.y);
      } else {  // two bf16, the lower column in the low half as memory holds them
        q_frag[s][r] =
            rows.valid[h] ? *reinterpret_cast<const uint32_t*>(q + q_offset[h] + col) : 0u;
      }
    }
}

// Scores of keys outside a row's range → −inf.
template <int kKeyTiles>
__device__ inline void mask_scores(float (&s)[kKeyTiles][4], int key0, const ThreadRows& rows,
                                   int t4) {
#pragma unroll
  for (int n = 0; n < kKeyTiles; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int key = key0 + n * 8 + 2 * t4 + (e & 1);
      const Keys& keys = rows.keys[e >> 1];
      if (key < keys.begin || key >= keys.end) s[n][e] = -INFINITY;
    }
}

// Running softmax state of a thread's two rows: max (unscaled) and this lane's part of the sum.
struct RowState {
  float max[2] = {-INFINITY, -INFINITY};
  float sum[2] = {0.0f, 0.0f};
};

// One key tile of the online softmax, on the unscaled scores s (the max commutes with the
// positive scale, which joins the exponent: p = 2^(s·c − max·c) with c = scale·log2 e, one FFMA
// and one ex2): new row max over the quad, the running sum and O rescaled to it, then
// P = 2^(S·c − shift) summed per lane and packed as bf16 A fragments (key tiles 2i and 2i + 1 form
// the k16 step i).
template <int kKeyTiles, int kDimTiles>
__device__ inline void softmax_tile(float (&s)[kKeyTiles][4], float scale_log2, RowState& state,
                                    float (&o)[kDimTiles][4], uint32_t (&p_frag)[kKeyTiles / 2][4]) {
  float shift[2];  // max·c, or 0 while a row has seen no key (so that 2^(−inf − 0) = 0)
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    float m = state.max[h];
#pragma unroll
    for (int n = 0; n < kKeyTiles; ++n) m = fmaxf(m, fmaxf(s[n][2 * h], s[n][2 * h + 1]));
    m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 1));
    m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 2));
    shift[h] = m == -INFINITY ? 0.0f : m * scale_log2;
    const float correction = exp2_approx(state.max[h] * scale_log2 - shift[h]);  // 0 at first
    state.max[h] = m;
    state.sum[h] *= correction;
#pragma unroll
    for (int n = 0; n < kDimTiles; ++n) {
      o[n][2 * h] *= correction;
      o[n][2 * h + 1] *= correction;
    }
  }
#pragma unroll
  for (int n = 0; n < kKeyTiles; ++n) {
    const float p0 = exp2_approx(fmaf(s[n][0], scale_log2, -shift[0]));
    const float p1 = exp2_approx(fmaf(s[n][1], scale_log2, -shift[0]));
    const float p2 = exp2_approx(fmaf(s[n][2], scale_log2, -shift[1]));
    const float p3 = exp2_approx(fmaf(s[n][3], scale_log2, -shift[1]));
    state.sum[0] += p0 + p1;
    state.sum[1] += p2 + p3;
    p_frag[n / 2][(n % 2) * 2] = pack_bf16(p0, p1);
    p_frag[n / 2][(n % 2) * 2 + 1] = pack_bf16(p2, p3);
  }
}

// out = O / Σ: the sum over the quad's lanes, then each lane writes its column pairs in Q's type.
template <int kDimTiles, typename Q>
__device__ inline void store_rows(const float (&o)[kDimTiles][4], const RowState& state,
                                  const ThreadRows& rows, void* out_base, int t4) {
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    float sum = state.sum[h];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    const float inverse = sum > 0.0f ? 1.0f / sum : 0.0f;
    if (!rows.valid[h]) continue;
    Q* out = static_cast<Q*>(out_base) + rows.offset[h];
#pragma unroll
    for (int n = 0; n < kDimTiles; ++n) {
      const float x = o[n][2 * h] * inverse, y = o[n][2 * h + 1] * inverse;
      if constexpr (std::is_same_v<Q, float>)
        *reinterpret_cast<float2*>(out + n * 8 + 2 * t4) = make_float2(x, y);
      else
        *reinterpret_cast<uint32_t*>(out + n * 8 + 2 * t4) = pack_bf16(x, y);
    }
  }
}

}  // namespace glimpse::ops::cuda_kernels::flash
