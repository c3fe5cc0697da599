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
// K and V tiles come in with cp.async, two stages, in the tensor cores' 128-byte-swizzled layout
// (flash_attention_wgmma_cuda.cuh, shared with the pipelined variant of this kernel).
//
// Work, for T tokens, H query heads and k_t visible keys per token: 4·128·H·Σ k_t FLOPs (plus
// ≤ 64 masked keys per row of an edge tile); L2 → SM: each block streams its key range of K and V
// once, 512 bytes a key, shared by 128 rows. Shared memory: 2 stages × (K, V) × 16 KB + 1 KB of
// alignment = 65 KB. Registers: O 64, S 32, Q 32, P 16 a thread.
#include <cuda_bf16.h>

#include "ops/flash_attention_tile_cuda.cuh"
#include "ops/flash_attention_wgmma_cuda.cuh"
#include "ops/kernels_cuda.h"

namespace glimpse::ops::cuda_kernels {
namespace {

using namespace flash;

constexpr int kDim = kWgmmaDim;
constexpr int kWarpGroups = 2;
constexpr int kThreads = 128 * kWarpGroups;
constexpr int kRows = 64 * kWarpGroups;               // query rows per block
constexpr int kSharedBytes = 2 * kStageBytes + 1024;  // two stages, + slack to align to 1 KB

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

constexpr int kKeyTile = kWgmmaKeyTile;

template <typename Q>
__device__ inline void attend(const FlashAttentionArgs& a) {
  const WgmmaBlock block = wgmma_block<kRows>(a);
  const int t4 = block.t4;
  const BlockKeys& range = block.range;
  const ThreadRows& rows = block.rows;
  auto load_tile = [&](int stage, int key0) {
    load_kv_tile<kThreads>(a, block.kv_head, block.shared + uint32_t(stage * kStageBytes), key0);
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
    const uint32_t k_tile = block.shared + uint32_t((j & 1) * kStageBytes),
                   v_tile = k_tile + kTileBytes;

    float s[kKeyTile / 8][4];
    issue_scores(s, q_frag, k_tile);
    wgmma_wait_all();
    fence_registers(s);

    if (key0 < range.full_lo || key0 + kKeyTile > range.full_hi) mask_scores(s, key0, rows, t4);
    uint32_t p_frag[kKeyTile / 16][4];
    softmax_tile(s, scale_log2, state, o, p_frag);

    issue_values(o, p_frag, v_tile);
    wgmma_wait_all();
    fence_registers(o);
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
