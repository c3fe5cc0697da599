#include <algorithm>
#include <vector>

#include "ops/attention.h"
#include "ops/common_cuda.h"
#include "ops/flash_attention_cuda.h"
#include "ops/kernels_cuda.h"
#include "ops/shape_checks.h"

namespace glimpse::ops::cuda {
namespace {

cuda_kernels::AttentionArgs check_qkv(const Tensor& q, const Tensor& k, const Tensor& v,
                                      const char* op) {
  check_gpu_f32(q, op, "q");
  check_gpu_f32(k, op, "k");
  check_gpu_f32(v, op, "v");
  check_qkv_shapes(q, k, v, op);
  if (q.size(2) > cuda_kernels::kAttentionMaxHeadDim)
    fail(ErrorKind::kUnsupported, "{}: head_dim {} is over the CUDA kernel's {}", op, q.size(2),
         cuda_kernels::kAttentionMaxHeadDim);
  cuda_kernels::AttentionArgs args{};
  args.q = q.data<float>();
  args.k = k.data<float>();
  args.v = v.data<float>();
  args.tokens = int(q.size(0));
  args.heads = int(q.size(1));
  args.kv_heads = int(k.size(1));
  args.head_dim = int(q.size(2));
  return args;
}

}  // namespace

Tensor causal_attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t q_offset,
                        float scale) {
  cuda_kernels::AttentionArgs args = check_qkv(q, k, v, "causal_attention");
  const int64_t keys = k.size(0);
  if (q_offset < 0 || q_offset + args.tokens > keys)
    fail(ErrorKind::kInvalidArgument,
         "causal_attention: {} queries at offset {} need {} keys, have {}", args.tokens, q_offset,
         q_offset + args.tokens, keys);
  Tensor out =
      Tensor::empty({args.tokens, int64_t(args.heads) * args.head_dim}, DType::kF32, Device::kCUDA);
  args.out = out.data<float>();
  args.q_offset = q_offset;
  args.max_keys = q_offset + args.tokens;
  args.scale = scale;
  dispatch_attention(args, "causal_attention");
  return out;
}

Tensor segment_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                         std::span<const int64_t> cu_seqlens, float scale) {
  cuda_kernels::AttentionArgs args = check_qkv(q, k, v, "segment_attention");
  if (k.size(0) != args.tokens || args.kv_heads != args.heads)
    fail(ErrorKind::kInvalidArgument, "segment_attention: q {} and k {} must have the same shape",
         shape_string(q.shape()), shape_string(k.shape()));
  if (cu_seqlens.size() < 2 || cu_seqlens.front() != 0 || cu_seqlens.back() != args.tokens)
    fail(ErrorKind::kInvalidArgument, "segment_attention: cu_seqlens must run from 0 to {} tokens",
         args.tokens);
  // Each token's key range [segment start, segment end), uploaded for the kernel.
  std::vector<int32_t> key_ranges(size_t(2 * args.tokens));
  for (size_t s = 0; s + 1 < cu_seqlens.size(); ++s) {
    if (cu_seqlens[s + 1] < cu_seqlens[s])
      fail(ErrorKind::kInvalidArgument, "segment_attention: cu_seqlens decreases at index {}",
           s + 1);
    args.max_keys = std::max(args.max_keys, cu_seqlens[s + 1] - cu_seqlens[s]);
    for (int64_t t = cu_seqlens[s]; t < cu_seqlens[s + 1]; ++t) {
      key_ranges[size_t(2 * t)] = int32_t(cu_seqlens[s]);
      key_ranges[size_t(2 * t + 1)] = int32_t(cu_seqlens[s + 1]);
    }
  }
  const Tensor device_ranges = upload(key_ranges);
  Tensor out =
      Tensor::empty({args.tokens, int64_t(args.heads) * args.head_dim}, DType::kF32, Device::kCUDA);
  args.out = out.data<float>();
  args.key_ranges = device_ranges.data<int32_t>();
  args.scale = scale;
  dispatch_attention(args, "segment_attention");
  return out;
}

}  // namespace glimpse::ops::cuda
