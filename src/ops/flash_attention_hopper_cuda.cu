// Flash attention on Hopper's warpgroup MMA (wgmma, sm_90a): the schedule of
// flash_attention_cuda.cu, with each warpgroup (4 warps) owning 64 query rows and the tensor cores
// reading K and V straight from shared memory, so no warp loads K/V fragments into registers
// (what bounds the mma.sync kernel: every warp re-reads the whole K/V tile through ldmatrix).
//
// Block: 2 warpgroups = 128 query rows (rows as in flash_attention_tile_cuda.cuh), head dim 128.
// Per key tile of 64 keys, each warpgroup:
//   S = Q·Kᵀ   [64 × 64]: 8 wgmma.m64n64k16, Q from registers (bf16 A fragments), K from shared
//              memory (K-major B: a key's 128 dims are contiguous);
//   online softmax in registers (the accumulator layout is mma.sync's, shared code);
//   O += P·V   [64 × 128]: 4 wgmma.m64n128k16, P from registers, V from shared memory (MN-major
//              B: the output dims of a key are contiguous), f32 accumulators in registers.
// K and V tiles come in with cp.async, two stages, laid out for the tensor cores' 128-byte
// swizzle: each tile is two 64-dim halves of [64 keys × 128 bytes], and 16-byte chunk c of row r
// sits at chunk c ^ (r % 8), so the 8 rows of a core matrix hit 8 different bank groups.
//
// Work, for T tokens, H query heads and k_t visible keys per token: 4·128·H·Σ k_t FLOPs (plus
// ≤ 64 masked keys per row of an edge tile); L2 → SM: each block streams its key range of K and V
// once, 512 bytes a key, shared by 128 rows. Shared memory: 2 stages × (K, V) × 16 KB + 1 KB of
// alignment = 65 KB. Registers: O 64, S 32, Q 32, P 16 a thread.
#include <cuda_bf16.h>

#include "ops/flash_attention_tile_cuda.cuh"
#include "ops/kernels_cuda.h"

namespace glimpse::ops::cuda_kernels {
namespace {

using namespace flash;

constexpr int kDim = 128;
constexpr int kWarpGroups = 2;
constexpr int kThreads = 128 * kWarpGroups;
constexpr int kRows = 64 * kWarpGroups;             // query rows per block
constexpr int kKeyTile = 64;                        // keys per shared-memory tile
constexpr int kHalfBytes = kKeyTile * 128;          // 64 dims of a tile's keys: 8 KB
constexpr int kTileBytes = 2 * kHalfBytes;          // K or V tile
constexpr int kStageBytes = 2 * kTileBytes;         // K and V
constexpr int kSharedBytes = 2 * kStageBytes + 1024;  // two stages, + slack to align to 1 KB

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
// Keeps the compiler from reading accumulators before the wait that makes them valid.
template <int kTiles>
__device__ inline void fence_accumulators(float (&d)[kTiles][4]) {
#pragma unroll
  for (int n = 0; n < kTiles; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) asm volatile("" : "+f"(d[n][e])::"memory");
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

template <typename Q>
__device__ inline void attend(const FlashAttentionArgs& a) {
  extern __shared__ __align__(1024) uint8_t shared_raw[];
  const uint32_t shared = (shared_address(shared_raw) + 1023u) & ~1023u;

  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  const int g = lane / 4, t4 = lane % 4;
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
    const uint32_t k_tile = shared + uint32_t(stage * kStageBytes), v_tile = k_tile + kTileBytes;
#pragma unroll
    for (int i = 0; i < kKeyTile * 16 / kThreads; ++i) {
      const int c = int(threadIdx.x) + i * kThreads;
      const int r = c / 16, chunk = c % 16;
      const bool valid = key0 + r < a.keys;
      const int64_t src = int64_t(valid ? key0 + r : 0) * a.kv_key_stride + chunk * 8;
      const uint32_t offset = swizzled_offset(r, chunk);
      cp_async_16(k_tile + offset, k_head + src, valid);
      cp_async_16(v_tile + offset, v_head + src, valid);
    }
  };

  const int tiles = (range.hi - range.lo + kKeyTile - 1) / kKeyTile;
  load_tile(0, range.lo);
  cp_async_commit();

  uint32_t q_frag[kDim / 16][4];
  load_q_fragments<kDim, Q>(a.q, rows, t4, q_frag);

  const float scale_log2 = a.scale * 1.4426950408889634f;
  RowState state;
  float o[kDim / 8][4];
#pragma unroll
  for (int n = 0; n < kDim / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;

  for (int j = 0; j < tiles; ++j) {
    const int key0 = range.lo + j * kKeyTile;
    if (j + 1 < tiles) load_tile((j + 1) & 1, key0 + kKeyTile);
    cp_async_commit();  // possibly empty, so that one group is always pending here
    cp_async_wait<1>();
    fence_proxy_async();
    __syncthreads();  // tile j is in shared memory for every warp
    const uint32_t k_tile = shared + uint32_t((j & 1) * kStageBytes), v_tile = k_tile + kTileBytes;

    // S = Q·Kᵀ: k16 step s reads dims 16s.. of every key: half s / 4, 32 bytes in per step (the
    // swizzle is applied to the final address, so stepping inside a 128-byte row is plain).
    float s[kKeyTile / 8][4];
    wgmma_fence();
#pragma unroll
    for (int step = 0; step < kDim / 16; ++step)
      wgmma_m64n64k16(
          s, q_frag[step],
          descriptor(k_tile + uint32_t((step >> 2) * kHalfBytes + (step & 3) * 32), 16, 1024),
          step > 0);
    wgmma_commit();
    wgmma_wait_all();
    fence_accumulators(s);

    if (key0 < range.full_lo || key0 + kKeyTile > range.full_hi) mask_scores(s, key0, rows, t4);
    uint32_t p_frag[kKeyTile / 16][4];
    softmax_tile(s, scale_log2, state, o, p_frag);

    // O += P·V: k16 step s reads keys 16s.. (2 KB in), both 64-dim halves (leading offset).
    wgmma_fence();
#pragma unroll
    for (int step = 0; step < kKeyTile / 16; ++step)
      wgmma_m64n128k16_mn_major_b(o, p_frag[step],
                                  descriptor(v_tile + uint32_t(step * 16 * 128), kHalfBytes, 1024),
                                  1);
    wgmma_commit();
    wgmma_wait_all();
    fence_accumulators(o);
    __syncthreads();  // every warp is done with this stage before the next load refills it
  }
  store_rows<kDim / 8, Q>(o, state, rows, a.out, t4);
}

#endif  // __CUDA_ARCH_FEAT_SM90_ALL

// Grid: (query tiles of 128 rows, kv_heads); 256 threads; dynamic shared memory kSharedBytes.
template <typename Q>
__global__ void __launch_bounds__(kThreads, 1) flash_attention_hopper_kernel(const FlashAttentionArgs a) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  attend<Q>(a);
#else
  __trap();  // the host launches it only on sm_90 devices from an sm_90a build
#endif
}

template <typename Q>
cudaError_t launch(const FlashAttentionArgs& a) {
  static const cudaError_t allowed =
      cudaFuncSetAttribute(flash_attention_hopper_kernel<Q>,
                           cudaFuncAttributeMaxDynamicSharedMemorySize, kSharedBytes);
  if (allowed != cudaSuccess) return allowed;
  const int64_t rows = int64_t(a.tokens) * (a.heads / a.kv_heads);
  const dim3 grid(unsigned((rows + kRows - 1) / kRows), unsigned(a.kv_heads));
  flash_attention_hopper_kernel<Q><<<grid, kThreads, kSharedBytes>>>(a);
  return cudaGetLastError();
}

}  // namespace

bool flash_attention_hopper_supports(int head_dim) {
#if defined(GLIMPSE_CUDA_SM90A)
  static const bool hopper = [] {
    int device = 0, major = 0;
    return cudaGetDevice(&device) == cudaSuccess &&
           cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) ==
               cudaSuccess &&
           major == 9;
  }();
  return hopper && head_dim == kDim;
#else
  (void)head_dim;
  return false;
#endif
}

cudaError_t flash_attention_hopper(const FlashAttentionArgs& args) {
  if (args.tokens == 0) return cudaSuccess;
  if (!flash_attention_hopper_supports(args.head_dim)) return cudaErrorInvalidValue;
  return args.bf16_q ? launch<__nv_bfloat16>(args) : launch<float>(args);
}

}  // namespace glimpse::ops::cuda_kernels
