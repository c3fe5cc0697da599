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

#include "ops/flash_attention_tile_cuda.cuh"
#include "ops/kernels_cuda.h"

namespace glimpse::ops::cuda_kernels {
namespace {

using namespace flash;

constexpr int kKeyTile = 64;  // keys per shared-memory tile

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

// c[16×8] += a[16×16] · b[16×8], bf16 operands, f32 accumulators, in the fragment layouts of
// flash_attention_tile_cuda.cuh; b: (rows 2t..2t+1, col g), (rows 2t+8.., col g).
__device__ inline void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
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
  const int g = lane / 4, t4 = lane % 4;  // MMA fragment coordinates
  const int kv_head = int(blockIdx.y);
  // Late tiles first: under a causal mask they see the most keys, so the tail of the grid is short.
  const int64_t row0 = int64_t(gridDim.x - 1 - blockIdx.x) * kRows;
  const BlockKeys range = block_keys(a, row0, kRows);
  const ThreadRows rows = thread_rows(a, row0 + warp * 16, g, kv_head, kDim);

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

  const int tiles = (range.hi - range.lo + kKeyTile - 1) / kKeyTile;
  load_tile(0, range.lo);
  cp_async_commit();

  // Q as bf16 A fragments while the first tile loads.
  uint32_t q_frag[kDimSteps][4];
  load_q_fragments<kDim, Q>(a, rows, t4, q_frag);

  const float scale_log2 = a.scale * 1.4426950408889634f;
  RowState state;
  float o[kDimTiles][4];
#pragma unroll
  for (int n = 0; n < kDimTiles; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;

  // ldmatrix lane roles: matrix lane / 8, row lane % 8 of it.
  const int matrix = lane / 8, matrix_row = lane % 8;

  for (int j = 0; j < tiles; ++j) {
    const int key0 = range.lo + j * kKeyTile;
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

    if (key0 < range.full_lo || key0 + kKeyTile > range.full_hi) mask_scores(s, key0, rows, t4);
    uint32_t p_frag[kKeyTile / 16][4];
    softmax_tile(s, scale_log2, state, o, p_frag);

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
  store_rows<kDimTiles, Q>(o, state, rows, a.out, t4);
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
