// Host side of the tensor-core flash-attention kernel (flash_attention_cuda.cu): which kernel
// serves an attention call, and the launch with its bf16 K/V copies. Shared by attention.h and
// paged_attention.h; the split-K kernel (run_attention) keeps the few-query calls (decode) and the
// head dims the flash kernel has no build for.
#pragma once

#include <cstdint>

#include "ops/kernels_cuda.h"

namespace glimpse::ops::cuda {

// Which kernel serves attention calls. Tests and benchmarks force one; everything else runs kAuto.
enum class AttentionKernel : int {
  kAuto,          // flash when it supports the call and has enough query rows, else split-K
  kSplitK,        // the f32 CUDA-core kernel (attention_cuda.cu)
  kFlash4Warps,   // mma.sync, 64 query rows per block (split-K where flash is unsupported)
  kFlash8Warps,   // mma.sync, 128 query rows per block (likewise)
  kFlashHopperPipelined,    // wgmma, software-pipelined, 128 query rows per block (the 8-warp
                            // kernel where it is unsupported)
  kFlashHopperPipelined64,  // the same with 64-row blocks, two to an SM (likewise); kAuto's choice
};
// Process-wide, for tests and benchmarks.
void force_attention_kernel(AttentionKernel kernel);

// Under kAuto, the flash kernel takes calls with at least this many query rows per KV head
// (tokens · heads / kv_heads); below, the split-K kernel's chunking of long key ranges wins.
// H100, GQA 32/2 over 4096 keys: 2 queries (32 rows) 87.7 µs split-K vs 88.9 flash; 4 queries
// (64 rows) 158.6 vs 89.8.
constexpr int64_t kFlashAttentionMinRows = 64;

// The flash kernel that serves a call.
enum class FlashKernel : int {
  kNone,
  k4Warps,
  k8Warps,
  kHopperPipelined64,
  kHopperPipelined128
};

// The flash kernel for this call (kNone: split-K serves it).
FlashKernel flash_kernel_for(const cuda_kernels::AttentionArgs& args);
// The same for a call of `rows` query rows per KV head (tokens · heads / kv_heads) whose tensors
// are all 16-byte `aligned`.
FlashKernel flash_kernel_for(int64_t rows, int kv_heads, int head_dim, float scale, bool aligned);

// Launches `args` on `kernel` (not kNone).
cudaError_t launch_flash(const cuda_kernels::FlashAttentionArgs& args, FlashKernel kernel);

// Runs the attention of `args` (args.out set) on the kernel flash_kernel_for picks.
// Keys [0, q_offset + tokens) are read (segment calls: q_offset 0, keys = tokens).
void dispatch_attention(const cuda_kernels::AttentionArgs& args, const char* op);

}  // namespace glimpse::ops::cuda
