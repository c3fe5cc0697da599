#include "ops/flash_attention_cuda.h"

#include <atomic>
#include <cstdlib>
#include <string>

#include "ops/common_cuda.h"

namespace glimpse::ops::cuda {
namespace {

// GLIMPSE_ATTENTION_KERNEL=splitk|flash4|flash8|hopper-pipelined|hopper-pipelined64 forces
// a kernel for a whole run (diagnosis: does an answer change with the kernel?); tests call
// force_attention_kernel.
AttentionKernel kernel_from_environment() {
  const char* value = std::getenv("GLIMPSE_ATTENTION_KERNEL");
  const std::string name = value ? value : "";
  return name == "splitk"               ? AttentionKernel::kSplitK
         : name == "flash4"             ? AttentionKernel::kFlash4Warps
         : name == "flash8"             ? AttentionKernel::kFlash8Warps
         : name == "hopper-pipelined"   ? AttentionKernel::kFlashHopperPipelined
         : name == "hopper-pipelined64" ? AttentionKernel::kFlashHopperPipelined64
                                        : AttentionKernel::kAuto;
}

std::atomic<AttentionKernel> forced_kernel{kernel_from_environment()};

bool aligned16(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

int multiprocessors() {
  static const int count = [] {
    int device = 0, sms = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
      return 132;
    return sms;
  }();
  return count;
}

}  // namespace

void force_attention_kernel(AttentionKernel kernel) {
  forced_kernel.store(kernel);
}

FlashKernel flash_kernel_for(int64_t rows, int kv_heads, int head_dim, float scale, bool aligned) {
  const AttentionKernel kernel = forced_kernel.load();
  // The kernels fold the scale into their exponent, which needs scale > 0.
  if (kernel == AttentionKernel::kSplitK || !cuda_kernels::flash_attention_supports(head_dim) ||
      !(scale > 0) || !aligned)
    return FlashKernel::kNone;
  const bool hopper = cuda_kernels::flash_attention_hopper_supports(head_dim);
  switch (kernel) {
    case AttentionKernel::kFlash4Warps:
      return FlashKernel::k4Warps;
    case AttentionKernel::kFlash8Warps:
      return FlashKernel::k8Warps;
    case AttentionKernel::kFlashHopperPipelined:
      return hopper ? FlashKernel::kHopperPipelined128 : FlashKernel::k8Warps;
    case AttentionKernel::kFlashHopperPipelined64:
      return hopper ? FlashKernel::kHopperPipelined64 : FlashKernel::k8Warps;
    default:
      break;
  }
  if (rows < kFlashAttentionMinRows) return FlashKernel::kNone;
  // On Hopper the pipelined wgmma kernel in 64-row blocks: fastest or within 0.5 % at every size
  // measured on the H100 (µs; plain wgmma / pipelined 128 / pipelined 64): prefill 2048 117.8 /
  // 118.9 / 112.6, prefill 347 20.3 / 20.7 / 19.3, vision bf16 512² 41.6 / 39.4 / 39.6, vision
  // bf16 1920×1080 1,851 / 1,712 / 1,720, vision f32 4096 304.5 / 298.8 / 284.3.
  if (hopper) return FlashKernel::kHopperPipelined64;
  // 128-row blocks share each K/V tile among twice the rows (half the L2 traffic) but hold an SM
  // alone (223 registers a thread): take them once they fill every SM. Measured on the H100
  // (µs, 4 vs 8 warps): vision 1296 patches 66.3 / 62.7, prefill 2048 155.4 / 151.9, prefill 347
  // 22.2 / 23.6 (88 blocks of 128: 4 warps); vision 4096 398.7 / 408.1 is the exception.
  const int64_t blocks_of_128 = (rows + 127) / 128 * kv_heads;
  return blocks_of_128 >= multiprocessors() ? FlashKernel::k8Warps : FlashKernel::k4Warps;
}

FlashKernel flash_kernel_for(const cuda_kernels::AttentionArgs& args) {
  return flash_kernel_for(
      int64_t(args.tokens) * (args.heads / args.kv_heads), args.kv_heads, args.head_dim, args.scale,
      aligned16(args.q) && aligned16(args.k) && aligned16(args.v) && aligned16(args.out));
}

cudaError_t launch_flash(const cuda_kernels::FlashAttentionArgs& args, FlashKernel kernel) {
  switch (kernel) {
    case FlashKernel::k4Warps:
      return cuda_kernels::flash_attention(args, 4);
    case FlashKernel::k8Warps:
      return cuda_kernels::flash_attention(args, 8);
    case FlashKernel::kHopperPipelined64:
      return cuda_kernels::flash_attention_hopper_pipelined(args, 1);
    case FlashKernel::kHopperPipelined128:
      return cuda_kernels::flash_attention_hopper_pipelined(args, 2);
    default:
      return cudaErrorInvalidValue;
  }
}

void dispatch_attention(const cuda_kernels::AttentionArgs& args, const char* op) {
  const FlashKernel kernel = flash_kernel_for(args);
  if (kernel == FlashKernel::kNone) {
    run_attention(args, op);
    return;
  }
  const int64_t keys = args.q_offset + args.tokens;
  // bf16 copies of the keys and values the queries see, [K | V][kv_heads, keys, d].
  const Tensor kv =
      Tensor::empty({2, args.kv_heads, keys, args.head_dim}, DType::kBF16, Device::kCUDA);
  uint16_t* k = kv.data<uint16_t>();
  uint16_t* v = k + int64_t(args.kv_heads) * keys * args.head_dim;
  check_launch(cuda_kernels::kv_to_bf16(args.k, args.v, args.block_table, args.block_size,
                                        int(keys), args.kv_heads, args.head_dim, k, v),
               op);
  cuda_kernels::FlashAttentionArgs flash{};
  flash.q = args.q;
  flash.k = k;
  flash.v = v;
  flash.out = args.out;
  flash.q_token_stride = int64_t(args.heads) * args.head_dim;
  flash.kv_key_stride = args.head_dim;
  flash.kv_head_stride = keys * args.head_dim;
  flash.key_ranges = args.key_ranges;
  flash.q_offset = args.q_offset;
  flash.keys = int(keys);
  flash.tokens = args.tokens;
  flash.heads = args.heads;
  flash.kv_heads = args.kv_heads;
  flash.head_dim = args.head_dim;
  flash.scale = args.scale;
  check_launch(launch_flash(flash, kernel), op);
}

}  // namespace glimpse::ops::cuda
