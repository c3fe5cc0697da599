// Flash attention (the FlashAttention-2 schedule) on tensor cores, for prefill and vision: many
// queries against one KV head per block, keys streamed through shared memory in tiles, the softmax
// kept online in registers so that the scores never leave the SM.
//
// Rows. The `group` = heads / kv_heads query heads that share a KV head are rows of the same
// tile: row m of KV head g is token m / group, head g·group + m % group (the heads of one token are
// neighbours in q and out, so a tile's rows are runs of contiguous memory). GQA 32/2 packs 16 heads
// of one token into 16 rows, so the K/V tile a block loads serves 16 heads at once.
//
// Block: kWarps warps (4 or 8), each owning 16 query rows (one m16 MMA row block), so a block owns
// 16·kWarps rows. Per key tile of kKeyTile = 64 keys:
//   S = Q·Kᵀ   [16 × 64] per warp: d/16 × 8 mma.sync.m16n8k16 (bf16 in, f32 accumulate);
//   online softmax on S in registers (row max/sum over the 4 lanes of a quad, exp2);
//   O += P·V   [16 × d] per warp: P re-packed from the S accumulators as the A operand (the
//              accumulator layout of two n8 tiles is the A layout of one k16 step), V via
//              ldmatrix.trans: 4 × d/8 mma.
// Q (rounded to bf16) stays in registers as A fragments for the whole block; K and V tiles come
// through shared memory with cp.async, two stages, so tile j+1 loads while tile j computes. Rows
// are padded by 16 B (4 banks), which keeps ldmatrix's 8-row reads free of bank conflicts.
//
// Operands: an f32 q is read and rounded in registers, a bf16 q read as is; out is written in q's
// type. f32 K and V are rounded once by kv_to_bf16 into head-major bf16 copies [kv_heads, keys, d]
// (paged rows gathered there through the block table), because every K/V element is read by many
// blocks (all the query tiles of its head): reading it as bf16 halves that L2 traffic, and lets
// cp.async move it untouched. bf16 K and V (the vision tower's) are read in place.
//
// Work (llm.c style), for T tokens, H query heads, K/V heads Hk, d, and each query seeing k_t keys:
//   FLOPs:        4·d·H·Σ_t k_t (2·d for Q·Kᵀ, 2·d for P·V) plus ≤ 64 masked keys per row of a
//                 diagonal tile; causal prefill: 4·d·H·T(T+1)/2.
//   DRAM bytes:   q and out 2·T·H·d·4 (·2 in bf16); f32 K and V read once (2·keys·Hk·d·4),
//                 written and read back as bf16 (2·2·keys·Hk·d·2); bf16 K and V read once.
//   L2 → SM:      each block streams its key range of K and V as bf16: 4·d bytes per key, once
//                 per block (16·kWarps rows) - the reason for 8-warp blocks once they fill the GPU.
//   Shared mem:   2 stages × (K, V) × 64 × (d + 8) × 2 B = 69.6 KB for d = 128, 36.9 KB for 64.
//   Registers:    d = 128: 239 (4 warps, 2 blocks per SM), 223 (8 warps, 1 block); no spills.
//                 Capping 4-warp blocks at 168 for 3 per SM spilled 132 B and ran 35% slower.
// H100 (2026-11-25): 222 TFLOP/s causal prefill of 2048 tokens (GQA 32/2), 250-275 TFLOP/s
// vision of 4096 patches, against 790-800 for cuBLASLt's bf16 GEMM (wgmma) on the same card.
#include <cuda_bf16.h>

#include <cstring>
#include <type_traits>

#include "ops/kernels_cuda.h"

namespace glimpse::ops::cuda_kernels {
namespace {

constexpr int kKeyTile = 64;  // keys per shared-memory tile

// --- PTX wrappers (sm_80+)
// ------------------------------------------------------------------------

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

// Four 8×8 bf16 matrices from shared memory; lanes 8i..8i+7 give the row addresses of matrix i.
__device__ inline void ldmatrix_x4(uint32_t (&r)[4], uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}
__device__ inline void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}

// c[16×8] += a[16×16] · b[16×8], bf16 operands, f32 accumulators. Lane l = 4·g + t holds
// a: (row g, cols 2t..2t+1), (g+8, 2t..), (g, 2t+8..), (g+8, 2t+8..); b: (rows 2t..2t+1, col g),
// (rows 2t+8.., col g); c: (row g, cols 2t, 2t+1), (row g+8, cols 2t, 2t+1).
__device__ inline void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
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

// --- the kernel
// -----------------------------------------------------------------------------------

template <int kDim, int kWarps>
constexpr int shared_bytes() {
  return 2 * 2 * kKeyTile * (kDim + 8) * 2;  // stages × (K, V) × rows × padded row × bf16
}

// Grid: (query tiles, kv_heads); block: kWarps warps. Dynamic shared memory: shared_bytes().
// Q is float or __nv_bfloat16, the type of q and out.
template <int kDim, int kWarps, typename Q>
__global__ void __launch_bounds__(kWarps * 32, 8 / kWarps)
    flash_attention_kernel(const FlashAttentionArgs a) {
  constexpr int kThreads = kWarps * 32;
  constexpr int kRows = 16 * kWarps;       // query rows per block
  constexpr int kStride = kDim + 8;        // bf16 per shared row (+16 B: 4 banks)
  constexpr int kDimSteps = kDim / 16;     // k16 steps of Q·Kᵀ
  constexpr int kDimTiles = kDim / 8;      // n8 tiles of O
  constexpr int kKeyTiles = kKeyTile / 8;  // n8 tiles of S
  constexpr int kChunksPerRow = kDim / 8;  // 16-byte chunks per K/V row
  static_assert(kKeyTile * kChunksPerRow % kThreads == 0, "whole 16-byte chunks per thread");
  extern __shared__ __align__(16) uint16_t shared[];  // [stage][K, V][kKeyTile][kStride]

  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  const int g = lane / 4, t4 = lane % 4;  // MMA fragment coordinates (see mma_bf16)
  const int group = a.heads / a.kv_heads, kv_head = int(blockIdx.y);
  const int64_t rows = int64_t(a.tokens) * group;
  // Late tiles first: under a causal mask they see the most keys, so the tail of the grid is short.
  const int64_t row0 = int64_t(gridDim.x - 1 - blockIdx.x) * kRows;

  // The block's key range: the union of its rows' ranges, and the intersection, inside which a
  // key tile needs no mask. Both bounds grow with the token, so the first and last tokens give
  // them.
  const Keys first = token_keys(a, int(row0 / group));
  const Keys last = token_keys(a, int((min(row0 + kRows, rows) - 1) / group));
  const int lo = first.begin, hi = last.end;
  const int full_lo = last.begin, full_hi = first.end;

  // This thread's two rows (g and g + 8 of its warp): where they live in q/out, and their keys.
  int64_t row_offset[2];
  bool row_valid[2];
  Keys row_keys[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int64_t m = row0 + warp * 16 + g + 8 * h;
    row_valid[h] = m < rows;
    const int token = row_valid[h] ? int(m / group) : 0;
    const int head = kv_head * group + int(m % group);
    row_offset[h] = (int64_t(token) * a.heads + head) * kDim;
    row_keys[h] = row_valid[h] ? token_keys(a, token) : Keys{0, 0};
  }

  // K and V rows [key0, key0 + kKeyTile) of this KV head → stage `stage`; rows past the end read
  // as zeros (their scores are masked, and zero values keep 0·v finite).
  const uint16_t* k_head = a.k + int64_t(kv_head) * a.kv_head_stride;
  const uint16_t* v_head = a.v + int64_t(kv_head) * a.kv_head_stride;
  auto load_tile = [&](int stage, int key0) {
    uint16_t* k_tile = shared + stage * 2 * kKeyTile * kStride;
    uint16_t* v_tile = k_tile + kKeyTile * kStride;
#pragma unroll
    for (int i = 0; i < kKeyTile * kChunksPerRow / kThreads; ++i) {
      const int c = int(threadIdx.x) + i * kThreads;
      const int r = c / kChunksPerRow, col = (c % kChunksPerRow) * 8;
      const bool valid = key0 + r < a.keys;
      const int64_t src = int64_t(valid ? key0 + r : 0) * a.kv_key_stride + col;
      cp_async_16(shared_address(k_tile + r * kStride + col), k_head + src, valid);
      cp_async_16(shared_address(v_tile + r * kStride + col), v_head + src, valid);
    }
  };

  const int tiles = (hi - lo + kKeyTile - 1) / kKeyTile;
  load_tile(0, lo);
  cp_async_commit();

  // Q as bf16 A fragments, [k16 step][4 registers], while the first tile loads.
  const Q* q = static_cast<const Q*>(a.q);
  uint32_t q_frag[kDimSteps][4];
#pragma unroll
  for (int s = 0; s < kDimSteps; ++s)
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int h = r & 1, col = s * 16 + 2 * t4 + 8 * (r >> 1);
      if constexpr (std::is_same_v<Q, float>) {
        const float2 x = row_valid[h] ? *reinterpret_cast<const float2*>(q + row_offset[h] + col)
                                      : make_float2(0.0f, 0.0f);
        q_frag[s][r] = pack_bf16(x.x, x.y);
      } else {  // two bf16, the lower column in the low half as memory holds them
        q_frag[s][r] =
            row_valid[h] ? *reinterpret_cast<const uint32_t*>(q + row_offset[h] + col) : 0u;
      }
    }

  // Running state of the two rows: max (unscaled), this lane's part of the sum, O.
  const float scale_log2 = a.scale * 1.4426950408889634f;
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};
  float o[kDimTiles][4];
#pragma unroll
  for (int n = 0; n < kDimTiles; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;

  // ldmatrix lane roles: matrix lane / 8, row lane % 8 of it.
  const int matrix = lane / 8, matrix_row = lane % 8;

  for (int j = 0; j < tiles; ++j) {
    const int key0 = lo + j * kKeyTile;
    if (j + 1 < tiles) load_tile((j + 1) & 1, key0 + kKeyTile);
    cp_async_commit();  // possibly empty, so that one group is always pending here
    cp_async_wait<1>();
    __syncthreads();  // tile j is in shared memory for every warp
    const uint16_t* k_tile = shared + (j & 1) * 2 * kKeyTile * kStride;
    const uint16_t* v_tile = k_tile + kKeyTile * kStride;

    // S = Q·Kᵀ. One ldmatrix.x4 gives the B fragments of two n8 key tiles: matrices (keys +0,
    // dims +0), (keys +0, dims +8), (keys +8, dims +0), (keys +8, dims +8).
    float s[kKeyTiles][4];
#pragma unroll
    for (int n = 0; n < kKeyTiles; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
    for (int step = 0; step < kDimSteps; ++step)
#pragma unroll
      for (int pair = 0; pair < kKeyTiles / 2; ++pair) {
        uint32_t b[4];
        const int key = pair * 16 + matrix_row + (matrix >> 1) * 8;
        const int dim = step * 16 + (matrix & 1) * 8;
        ldmatrix_x4(b, shared_address(k_tile + key * kStride + dim));
        mma_bf16(s[2 * pair], q_frag[step], b[0], b[1]);
        mma_bf16(s[2 * pair + 1], q_frag[step], b[2], b[3]);
      }

    // Mask keys outside a row's range (only in tiles that cross a range edge).
    if (key0 < full_lo || key0 + kKeyTile > full_hi) {
#pragma unroll
      for (int n = 0; n < kKeyTiles; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int key = key0 + n * 8 + 2 * t4 + (e & 1);
          const Keys& keys = row_keys[e >> 1];
          if (key < keys.begin || key >= keys.end) s[n][e] = -INFINITY;
        }
    }

    // Online softmax on the unscaled scores (the max commutes with the positive scale, which
    // joins the exponent: p = 2^(s·c − max·c) with c = scale·log2 e, one FFMA and one ex2).
    // New row max over the quad, then the running sum and O rescaled to it.
    float shift[2];  // max·c, or 0 while a row has seen no key (so that 2^(−inf − 0) = 0)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float m = row_max[h];
#pragma unroll
      for (int n = 0; n < kKeyTiles; ++n) m = fmaxf(m, fmaxf(s[n][2 * h], s[n][2 * h + 1]));
      m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 1));
      m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 2));
      shift[h] = m == -INFINITY ? 0.0f : m * scale_log2;
      const float correction = exp2_approx(row_max[h] * scale_log2 - shift[h]);  // 0 at first
      row_max[h] = m;
      row_sum[h] *= correction;
#pragma unroll
      for (int n = 0; n < kDimTiles; ++n) {
        o[n][2 * h] *= correction;
        o[n][2 * h + 1] *= correction;
      }
    }

    // P = 2^(S·c − shift), summed per lane, packed as bf16 A fragments: key tiles 2i and 2i + 1
    // form the k16 step i.
    uint32_t p_frag[kKeyTile / 16][4];
#pragma unroll
    for (int n = 0; n < kKeyTiles; ++n) {
      const float p0 = exp2_approx(fmaf(s[n][0], scale_log2, -shift[0]));
      const float p1 = exp2_approx(fmaf(s[n][1], scale_log2, -shift[0]));
      const float p2 = exp2_approx(fmaf(s[n][2], scale_log2, -shift[1]));
      const float p3 = exp2_approx(fmaf(s[n][3], scale_log2, -shift[1]));
      row_sum[0] += p0 + p1;
      row_sum[1] += p2 + p3;
      p_frag[n / 2][(n % 2) * 2] = pack_bf16(p0, p1);
      p_frag[n / 2][(n % 2) * 2 + 1] = pack_bf16(p2, p3);
    }

    // O += P·V. ldmatrix.trans of V rows gives B fragments of two n8 dim tiles: matrices (keys +0,
    // dims +0), (keys +8, dims +0), (keys +0, dims +8), (keys +8, dims +8).
#pragma unroll
    for (int step = 0; step < kKeyTile / 16; ++step)
#pragma unroll
      for (int pair = 0; pair < kDimTiles / 2; ++pair) {
        uint32_t b[4];
        const int key = step * 16 + matrix_row + (matrix & 1) * 8;
        const int dim = pair * 16 + (matrix >> 1) * 8;
        ldmatrix_x4_trans(b, shared_address(v_tile + key * kStride + dim));
        mma_bf16(o[2 * pair], p_frag[step], b[0], b[1]);
        mma_bf16(o[2 * pair + 1], p_frag[step], b[2], b[3]);
      }
    __syncthreads();  // every warp is done with this stage before the next load refills it
  }

  // out = O / Σ: the sum over the quad's lanes, then each lane writes its column pairs.
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    float sum = row_sum[h];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    const float inverse = sum > 0.0f ? 1.0f / sum : 0.0f;
    if (!row_valid[h]) continue;
    Q* out = static_cast<Q*>(a.out) + row_offset[h];
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

// One block per key p: its row of kv_heads·d floats of K and of V (contiguous, in a paged pool
// too) → bf16 at [head, p, :], 8 floats per thread and step.
__global__ void kv_to_bf16_kernel(const float* __restrict__ k, const float* __restrict__ v,
                                  const int32_t* __restrict__ block_table, int64_t block_size,
                                  int keys, int kv_heads, int d, uint16_t* __restrict__ k_out,
                                  uint16_t* __restrict__ v_out) {
  const int64_t p = blockIdx.x;
  const int64_t row =
      block_table ? int64_t(block_table[p / block_size]) * block_size + p % block_size : p;
  const float* k_row = k + row * kv_heads * d;
  const float* v_row = v + row * kv_heads * d;
  const int chunks = d / 8;
  for (int i = int(threadIdx.x); i < kv_heads * chunks; i += int(blockDim.x)) {
    const int head = i / chunks, col = (i % chunks) * 8;
    const int64_t dst = (int64_t(head) * keys + p) * d + col;
    const float4 k0 = *reinterpret_cast<const float4*>(k_row + 8 * i);
    const float4 k1 = *reinterpret_cast<const float4*>(k_row + 8 * i + 4);
    const float4 v0 = *reinterpret_cast<const float4*>(v_row + 8 * i);
    const float4 v1 = *reinterpret_cast<const float4*>(v_row + 8 * i + 4);
    *reinterpret_cast<uint4*>(k_out + dst) = make_uint4(
        pack_bf16(k0.x, k0.y), pack_bf16(k0.z, k0.w), pack_bf16(k1.x, k1.y), pack_bf16(k1.z, k1.w));
    *reinterpret_cast<uint4*>(v_out + dst) = make_uint4(
        pack_bf16(v0.x, v0.y), pack_bf16(v0.z, v0.w), pack_bf16(v1.x, v1.y), pack_bf16(v1.z, v1.w));
  }
}

template <int kDim, int kWarps, typename Q>
cudaError_t launch_typed(const FlashAttentionArgs& a) {
  constexpr int kRows = 16 * kWarps, kBytes = shared_bytes<kDim, kWarps>();
  // Over 48 KB of dynamic shared memory must be allowed per kernel, once.
  static const cudaError_t allowed = cudaFuncSetAttribute(
      flash_attention_kernel<kDim, kWarps, Q>, cudaFuncAttributeMaxDynamicSharedMemorySize, kBytes);
  if (allowed != cudaSuccess) return allowed;
  const int64_t rows = int64_t(a.tokens) * (a.heads / a.kv_heads);
  const dim3 grid(unsigned((rows + kRows - 1) / kRows), unsigned(a.kv_heads));
  flash_attention_kernel<kDim, kWarps, Q><<<grid, kWarps * 32, kBytes>>>(a);
  return cudaGetLastError();
}

template <int kDim, int kWarps>
cudaError_t launch(const FlashAttentionArgs& a) {
  return a.bf16_q ? launch_typed<kDim, kWarps, __nv_bfloat16>(a)
                  : launch_typed<kDim, kWarps, float>(a);
}

}  // namespace

bool flash_attention_supports(int head_dim) {
  return head_dim == 64 || head_dim == 128;
}

cudaError_t kv_to_bf16(const float* k, const float* v, const int32_t* block_table,
                       int64_t block_size, int keys, int kv_heads, int head_dim, uint16_t* k_out,
                       uint16_t* v_out) {
  if (head_dim % 8 != 0) return cudaErrorInvalidValue;
  if (keys == 0 || kv_heads == 0) return cudaSuccess;
  const int row_chunks = kv_heads * (head_dim / 8);
  const int threads = row_chunks >= 256 ? 256 : (row_chunks + 31) / 32 * 32;
  kv_to_bf16_kernel<<<unsigned(keys), threads>>>(k, v, block_table, block_size, keys, kv_heads,
                                                 head_dim, k_out, v_out);
  return cudaGetLastError();
}

cudaError_t flash_attention(const FlashAttentionArgs& args, int warps) {
  if (args.tokens == 0) return cudaSuccess;
  if (warps != 4 && warps != 8) return cudaErrorInvalidValue;
  switch (args.head_dim) {
    case 64:
      return warps == 4 ? launch<64, 4>(args) : launch<64, 8>(args);
    case 128:
      return warps == 4 ? launch<128, 4>(args) : launch<128, 8>(args);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace glimpse::ops::cuda_kernels
