// Flash attention on Hopper's warpgroup MMA (wgmma, sm_90a): the schedule of
// flash_attention_cuda.cu, with each warpgroup (4 warps) owning 64 query rows and the tensor cores
// reading K and V straight from shared memory, so no warp loads K/V fragments into registers
// (what bounds the mma.sync kernel: every warp re-reads the whole K/V tile through ldmatrix).
// Per key tile of 64 keys, each warpgroup:
//   S = Q·Kᵀ   [64 × 64]: 8 wgmma.m64n64k16, Q from registers (bf16 A fragments), K from shared
//              memory (K-major B: a key's 128 dims are contiguous);
//   online softmax in registers (the accumulator layout is mma.sync's, shared code in
//   flash_attention_tile_cuda.cuh);
//   O += P·V   [64 × 128]: 4 wgmma.m64n128k16, P from registers, V from shared memory (MN-major
//              B: the output dims of a key are contiguous), f32 accumulators in registers.
// Software-pipelined: the scores of key tile j + 1 go to the tensor cores before the softmax of
// tile j runs, so the exponentials overlap the next Q·Kᵀ (two score buffers in registers), and K/V
// tiles come in with cp.async three stages deep (tile j + 2 loads while j computes), in the tensor
// cores' 128-byte-swizzled layout (flash_attention_wgmma_cuda.cuh). Blocks of 64 query rows (one
// warpgroup, two blocks to an SM, whose warpgroups then overlap one another too) or 128 (two
// warpgroups).
//
// The automatic choice on Hopper, in 64-row blocks (flash_attention_cuda.cc has the timings; a
// plain, unpipelined wgmma kernel with 128-row blocks measured 1-8 % slower and was removed).
// ptxas: 253 registers, no spills, no wgmma serialisation (issuing the next tile's scores
// conditionally instead, past the last tile, made the compiler copy score registers and serialise
// every wgmma).
//
// Work, for T tokens, H query heads and k_t visible keys per token: 4·128·H·Σ k_t FLOPs (plus
// ≤ 64 masked keys per row of an edge tile); L2 → SM: each block streams its key range of K and V
// once, 512 bytes a key. Shared memory 3 stages × (K, V) × 16 KB + 1 KB of alignment = 97 KB;
// registers O 64, S 2 × 32, Q 32, P 16 a thread.
#include <cuda_bf16.h>

#include "ops/flash_attention_tile_cuda.cuh"
#include "ops/flash_attention_wgmma_cuda.cuh"
#include "ops/kernels_cuda.h"

namespace glimpse::ops::cuda_kernels {
namespace {

using namespace flash;

constexpr int kStages = 3;
constexpr int kSharedBytes = kStages * kStageBytes + 1024;  // + slack to align to 1 KB

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

constexpr int kDim = kWgmmaDim;
constexpr int kKeyTile = kWgmmaKeyTile;

template <int kGroups, typename Q>
__device__ inline void attend(const FlashAttentionArgs& a) {
  constexpr int kThreads = 128 * kGroups, kRows = 64 * kGroups;
  const WgmmaBlock block = wgmma_block<kRows>(a);
  const int t4 = block.t4;
  const BlockKeys& range = block.range;
  const ThreadRows& rows = block.rows;
  const int tiles = (range.hi - range.lo + kKeyTile - 1) / kKeyTile;

  // Key tile `tile` → its stage. Always commits a group (possibly empty), so that the count of
  // pending groups is the same at every wait.
  auto stage_of = [&](int tile) { return block.shared + uint32_t((tile % kStages) * kStageBytes); };
  auto load_tile = [&](int tile) {
    if (tile < tiles)
      load_kv_tile<kThreads>(a, block.kv_head, stage_of(tile), range.lo + tile * kKeyTile);
    cp_async_commit();
  };
  // Every thread's copies of the tiles loaded so far have landed and are visible to the tensor
  // cores of every warp; every warp is past its reads of the stage that loads next.
  auto tiles_ready = [] {
    cp_async_wait<0>();
    fence_proxy_async();
    __syncthreads();
  };

  uint32_t q_frag[kDim / 16][4];
  auto issue_tile_scores = [&](float(&s)[kKeyTile / 8][4], int tile) {
    fence_registers(s);
    issue_scores(s, q_frag, stage_of(tile));
  };

  load_tile(0);
  load_tile(1);
  load_q_fragments<kDim, Q>(a, rows, t4, q_frag);

  const float scale_log2 = a.scale * 1.4426950408889634f;
  RowState state;
  float o[kDim / 8][4];
#pragma unroll
  for (int n = 0; n < kDim / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;

  // One tile: the scores of `tile` are in `current`; `next` receives those of tile + 1.
  auto attend_tile = [&](float(&current)[kKeyTile / 8][4], float(&next)[kKeyTile / 8][4],
                         int tile) {
    tiles_ready();  // tile + 1 is in shared memory
    load_tile(tile + 2);
    // Past the last tile too (on a stale stage, result unused): a conditional issue would merge
    // two definitions of `next`, and the compiler's register copies then serialize every wgmma.
    issue_tile_scores(next, tile + 1);

    const int key0 = range.lo + tile * kKeyTile;
    if (key0 < range.full_lo || key0 + kKeyTile > range.full_hi)
      mask_scores(current, key0, rows, t4);
    uint32_t p_frag[kKeyTile / 16][4];
    softmax_tile(current, scale_log2, state, o, p_frag);

    fence_registers(o);
    fence_registers(p_frag);
    issue_values(o, p_frag, stage_of(tile) + kTileBytes);
    wgmma_wait_all();
    fence_registers(o);
    fence_registers(next);
  };

  float s0[kKeyTile / 8][4], s1[kKeyTile / 8][4];
  if (tiles > 0) {
    cp_async_wait<1>();  // tile 0 (tile 1 may still be in flight)
    fence_proxy_async();
    __syncthreads();
    issue_tile_scores(s0, 0);
    wgmma_wait_all();
    fence_registers(s0);
  }
  for (int tile = 0; tile < tiles; tile += 2) {
    attend_tile(s0, s1, tile);
    if (tile + 1 < tiles) attend_tile(s1, s0, tile + 1);
  }
  store_rows<kDim / 8, Q>(o, state, rows, a.out, t4);
}

#endif  // __CUDA_ARCH_FEAT_SM90_ALL

// Grid: (query tiles of 64·kGroups rows, kv_heads); 128·kGroups threads; dynamic shared memory
// kSharedBytes.
template <int kGroups, typename Q>
__global__ void __launch_bounds__(128 * kGroups, 2 / kGroups)
    flash_attention_hopper_pipelined_kernel(const FlashAttentionArgs a) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  attend<kGroups, Q>(a);
#else
  __trap();  // the host launches it only on sm_90 devices from an sm_90a build
#endif
}

template <int kGroups, typename Q>
cudaError_t launch(const FlashAttentionArgs& a) {
  static const cudaError_t allowed =
      cudaFuncSetAttribute(flash_attention_hopper_pipelined_kernel<kGroups, Q>,
                           cudaFuncAttributeMaxDynamicSharedMemorySize, kSharedBytes);
  if (allowed != cudaSuccess) return allowed;
  constexpr int kRows = 64 * kGroups;
  const int64_t rows = int64_t(a.tokens) * (a.heads / a.kv_heads);
  const dim3 grid(unsigned((rows + kRows - 1) / kRows), unsigned(a.kv_heads));
  flash_attention_hopper_pipelined_kernel<kGroups, Q><<<grid, 128 * kGroups, kSharedBytes>>>(a);
  return cudaGetLastError();
}

template <int kGroups>
cudaError_t launch(const FlashAttentionArgs& a) {
  return a.bf16_q ? launch<kGroups, __nv_bfloat16>(a) : launch<kGroups, float>(a);
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
  return hopper && head_dim == kWgmmaDim;
#else
  (void)head_dim;
  return false;
#endif
}

cudaError_t flash_attention_hopper_pipelined(const FlashAttentionArgs& args, int warpgroups) {
  if (args.tokens == 0) return cudaSuccess;
  if (!flash_attention_hopper_supports(args.head_dim)) return cudaErrorInvalidValue;
  switch (warpgroups) {
    case 1:
      return launch<1>(args);
    case 2:
      return launch<2>(args);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace glimpse::ops::cuda_kernels
