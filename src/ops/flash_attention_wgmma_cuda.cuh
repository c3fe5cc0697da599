// The building blocks of the wgmma flash-attention kernel (flash_attention_hopper_pipelined_cuda.cu):
// a block's setup, the shared-memory layout of a K/V tile for the tensor cores and its loading, the
// descriptors, and the warpgroup MMA instructions (sm_90a).
//
// A K or V tile is 64 keys × 128 dims in two 64-dim halves of [64 keys × 128 bytes] with the
// tensor cores' 128-byte swizzle: 16-byte chunk c of row r sits at chunk c ^ (r % 8), so the 8 rows
// of a core matrix hit 8 different bank groups. Q·Kᵀ reads K as a K-major B operand (a key's dims
// contiguous), P·V reads V as an MN-major one (a key's output dims contiguous).
#pragma once

#include <cstdint>

#include "ops/flash_attention_tile_cuda.cuh"

namespace glimpse::ops::cuda_kernels::flash {

constexpr int kWgmmaDim = 128;                      // head dim
constexpr int kWgmmaKeyTile = 64;                   // keys per shared-memory tile
constexpr int kHalfBytes = kWgmmaKeyTile * 128;     // 64 dims of a tile's keys: 8 KB
constexpr int kTileBytes = 2 * kHalfBytes;          // K or V tile
constexpr int kStageBytes = 2 * kTileBytes;         // K and V

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

// Where 16-byte chunk `chunk` (0..15) of key row `row` lives in a tile (the 128-byte swizzle,
// applied by the tensor cores to address bits 4-6 from bits 7-9, so tiles are 1 KB aligned).
__device__ inline uint32_t swizzled_offset(int row, int chunk) {
  return uint32_t((chunk >> 3) * kHalfBytes + row * 128 + (((chunk & 7) ^ (row & 7)) << 4));
}

// wgmma shared-memory matrix descriptor, 128-byte swizzle: start address, leading and stride
// byte offsets (all in 16-byte units).
__device__ inline uint64_t descriptor(uint32_t address, uint32_t leading_bytes,
                                      uint32_t stride_bytes) {
  return uint64_t((address & 0x3FFFF) >> 4) | (uint64_t(leading_bytes >> 4) << 16) |
         (uint64_t(stride_bytes >> 4) << 32) | (uint64_t(1) << 62);
}

__device__ inline void wgmma_fence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ inline void wgmma_commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
__device__ inline void wgmma_wait_all() {
  asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
}
// Pins registers in program order against the wgmma fences and waits (the compiler does not
// order plain arithmetic against them): accumulators are read only after the wait that makes them
// valid, and operands are written before the fence that hands them to the tensor cores.
template <int kTiles>
__device__ inline void fence_registers(float (&d)[kTiles][4]) {
#pragma unroll
  for (int n = 0; n < kTiles; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) asm volatile("" : "+f"(d[n][e])::"memory");
}
template <int kTiles>
__device__ inline void fence_registers(uint32_t (&d)[kTiles][4]) {
#pragma unroll
  for (int n = 0; n < kTiles; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) asm volatile("" : "+r"(d[n][e])::"memory");
}
// Shared memory written through the generic proxy (cp.async), read next by the tensor cores.
__device__ inline void fence_proxy_async() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// d[64 × 64] (+)= a[64 × 16] · b[16 × 64], a from registers, b K-major in shared memory.
// d[64 × 128] (+)= a · b with b MN-major (its N dimension contiguous).
__device__ inline void wgmma_m64n64k16(float (&d)[8][4], const uint32_t (&a)[4], uint64_t b,
                                int accumulate) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
      "{%32, %33, %34, %35}, %36, p, 1, 1, 0;\n}\n"
      : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]),
        "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]),
        "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]),
        "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]),
        "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]),
        "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]),
        "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]),
        "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(accumulate));
}

__device__ inline void wgmma_m64n128k16_mn_major_b(float (&d)[16][4], const uint32_t (&a)[4], uint64_t b,
                                int accumulate) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
      "{%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
      : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]),
        "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]),
        "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]),
        "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]),
        "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]),
        "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]),
        "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]),
        "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3]),
        "+f"(d[8][0]), "+f"(d[8][1]), "+f"(d[8][2]), "+f"(d[8][3]),
        "+f"(d[9][0]), "+f"(d[9][1]), "+f"(d[9][2]), "+f"(d[9][3]),
        "+f"(d[10][0]), "+f"(d[10][1]), "+f"(d[10][2]), "+f"(d[10][3]),
        "+f"(d[11][0]), "+f"(d[11][1]), "+f"(d[11][2]), "+f"(d[11][3]),
        "+f"(d[12][0]), "+f"(d[12][1]), "+f"(d[12][2]), "+f"(d[12][3]),
        "+f"(d[13][0]), "+f"(d[13][1]), "+f"(d[13][2]), "+f"(d[13][3]),
        "+f"(d[14][0]), "+f"(d[14][1]), "+f"(d[14][2]), "+f"(d[14][3]),
        "+f"(d[15][0]), "+f"(d[15][1]), "+f"(d[15][2]), "+f"(d[15][3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(accumulate));
}

// What a thread of a block of `kRows` query rows knows before its first tile: the 1 KB-aligned
// shared-memory base, its MMA fragment coordinates, the block's KV head, first row and key range,
// and its own two rows (flash_attention_tile_cuda.cuh). Late row tiles come first: under a causal
// mask they see the most keys, so the tail of the grid is short.
struct WgmmaBlock {
  uint32_t shared;
  int g, t4, kv_head;
  BlockKeys range;
  ThreadRows rows;
};
template <int kRows>
__device__ inline WgmmaBlock wgmma_block(const FlashAttentionArgs& a) {
  extern __shared__ __align__(1024) uint8_t shared_raw[];
  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  const int g = lane / 4, kv_head = int(blockIdx.y);
  const int64_t row0 = int64_t(gridDim.x - 1 - blockIdx.x) * kRows;
  return {(shared_address(shared_raw) + 1023u) & ~1023u, g, lane % 4, kv_head,
          block_keys(a, row0, kRows), thread_rows(a, row0 + warp * 16, g, kv_head, kWgmmaDim)};
}

// K and V rows [key0, key0 + 64) of KV head `kv_head` → the K and V tiles of the stage at shared
// address `stage`, by the block's kThreads threads with cp.async; rows past the end read as zeros
// (their scores are masked, and zero values keep 0·v finite).
template <int kThreads>
__device__ inline void load_kv_tile(const FlashAttentionArgs& a, int kv_head, uint32_t stage,
                                    int key0) {
  const uint16_t* k_head = a.k + int64_t(kv_head) * a.kv_head_stride;
  const uint16_t* v_head = a.v + int64_t(kv_head) * a.kv_head_stride;
#pragma unroll
  for (int i = 0; i < kWgmmaKeyTile * 16 / kThreads; ++i) {
    const int c = int(threadIdx.x) + i * kThreads;
    const int r = c / 16, chunk = c % 16;
    const bool valid = key0 + r < a.keys;
    const int64_t src = int64_t(valid ? key0 + r : 0) * a.kv_key_stride + chunk * 8;
    const uint32_t offset = swizzled_offset(r, chunk);
    cp_async_16(stage + offset, k_head + src, valid);
    cp_async_16(stage + kTileBytes + offset, v_head + src, valid);
  }
}

// S = Q·Kᵀ of the K tile at shared address `k_tile`, issued (not waited for): k16 step s reads dims
// 16s.. of every key: half s / 4, 32 bytes in per step (the swizzle is applied to the final
// address, so stepping inside a 128-byte row is plain).
__device__ inline void issue_scores(float (&s)[kWgmmaKeyTile / 8][4],
                                    const uint32_t (&q_frag)[kWgmmaDim / 16][4], uint32_t k_tile) {
  wgmma_fence();
#pragma unroll
  for (int step = 0; step < kWgmmaDim / 16; ++step)
    wgmma_m64n64k16(
        s, q_frag[step],
        descriptor(k_tile + uint32_t((step >> 2) * kHalfBytes + (step & 3) * 32), 16, 1024),
        step > 0);
  wgmma_commit();
}

// O += P·V of the V tile at shared address `v_tile`, issued: k16 step s reads keys 16s.. (2 KB
// in), both 64-dim halves (the leading offset).
__device__ inline void issue_values(float (&o)[kWgmmaDim / 8][4],
                                    const uint32_t (&p_frag)[kWgmmaKeyTile / 16][4],
                                    uint32_t v_tile) {
  wgmma_fence();
#pragma unroll
  for (int step = 0; step < kWgmmaKeyTile / 16; ++step)
    wgmma_m64n128k16_mn_major_b(o, p_frag[step],
                                descriptor(v_tile + uint32_t(step * 16 * 128), kHalfBytes, 1024),
                                1);
  wgmma_commit();
}

#endif  // __CUDA_ARCH_FEAT_SM90_ALL

}  // namespace glimpse::ops::cuda_kernels::flash
