#include <algorithm>
#include <utility>
#include <vector>

#include "ops/attention.h"
#include "ops/common_cuda.h"
#include "ops/convert.h"
#include "ops/flash_attention_cuda.h"
#include "ops/fused.h"
#include "ops/fused_kernels_cuda.h"
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

// cu_seqlens non-decreasing from 0 to tokens.
void check_cu_seqlens(int64_t tokens, std::span<const int64_t> cu_seqlens, const char* op) {
  if (cu_seqlens.size() < 2 || cu_seqlens.front() != 0 || cu_seqlens.back() != tokens)
    fail(ErrorKind::kInvalidArgument, "{}: cu_seqlens must run from 0 to {} tokens", op, tokens);
  for (size_t s = 1; s < cu_seqlens.size(); ++s)
    if (cu_seqlens[s] < cu_seqlens[s - 1])
      fail(ErrorKind::kInvalidArgument, "{}: cu_seqlens decreases at index {}", op, s);
}

// Segments: q and k of one shape [tokens, heads, d] and valid cu_seqlens.
void check_segments(const Tensor& q, const Tensor& k, std::span<const int64_t> cu_seqlens,
                    const char* op) {
  if (k.shape() != q.shape())
    fail(ErrorKind::kInvalidArgument, "{}: q {} and k {} must have the same shape", op,
         shape_string(q.shape()), shape_string(k.shape()));
  check_cu_seqlens(q.size(0), cu_seqlens, op);
}

// Each token's key range [segment start, segment end), for the kernels; *max_keys gets the
// longest segment.
std::vector<int32_t> segment_key_ranges(std::span<const int64_t> cu_seqlens, int64_t* max_keys) {
  std::vector<int32_t> key_ranges(size_t(2 * cu_seqlens.back()));
  for (size_t s = 0; s + 1 < cu_seqlens.size(); ++s) {
    *max_keys = std::max(*max_keys, cu_seqlens[s + 1] - cu_seqlens[s]);
    for (int64_t t = cu_seqlens[s]; t < cu_seqlens[s + 1]; ++t) {
      key_ranges[size_t(2 * t)] = int32_t(cu_seqlens[s]);
      key_ranges[size_t(2 * t + 1)] = int32_t(cu_seqlens[s + 1]);
    }
  }
  return key_ranges;
}

// The key ranges of `cu_seqlens` on the GPU. The vision tower asks for the same segments in each
// of its blocks: the last upload is kept per thread (on that thread's stream, so a reuse is ordered
// after it), sparing the stream a copy between two kernels per block.
Tensor device_key_ranges(std::span<const int64_t> cu_seqlens, int64_t* max_keys) {
  struct Last {
    std::vector<int64_t> cu_seqlens;
    int64_t max_keys = 0;
    Tensor ranges;
  };
  thread_local Last last;
  if (!last.ranges.defined() || !std::equal(cu_seqlens.begin(), cu_seqlens.end(),
                                            last.cu_seqlens.begin(), last.cu_seqlens.end())) {
    last.max_keys = 0;
    last.ranges = upload(segment_key_ranges(cu_seqlens, &last.max_keys));
    last.cu_seqlens.assign(cu_seqlens.begin(), cu_seqlens.end());
  }
  *max_keys = std::max(*max_keys, last.max_keys);
  return last.ranges;
}

bool aligned16(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

// The flash kernel's arguments for bf16 segments: q [tokens, heads, d] read in place (its tokens
// q_token_stride apart), out a fresh [tokens, heads · d]; k, v and their strides are the caller's.
struct SegmentFlash {
  cuda_kernels::FlashAttentionArgs args{};
  Tensor ranges, out;  // kept alive for the launch
};
SegmentFlash segment_flash(const void* q, int64_t q_token_stride, int64_t tokens, int64_t heads,
                           int64_t d, std::span<const int64_t> cu_seqlens, float scale) {
  int64_t max_keys = 0;
  SegmentFlash f;
  f.ranges = device_key_ranges(cu_seqlens, &max_keys);
  f.out = Tensor::empty({tokens, heads * d}, DType::kBF16, Device::kCUDA);
  cuda_kernels::FlashAttentionArgs& a = f.args;
  a.q = q;
  a.out = f.out.raw_data();
  a.bf16_q = true;
  a.q_token_stride = q_token_stride;
  a.key_ranges = f.ranges.data<int32_t>();
  a.keys = int(tokens);
  a.tokens = int(tokens);
  a.heads = int(heads);
  a.kv_heads = int(heads);
  a.head_dim = int(d);
  a.scale = scale;
  return f;
}

// bf16 q/k/v go to the flash kernel as they are (K and V read in place, out in bf16); what it
// cannot serve (f16, other head dims) is widened to f32 and rounded back.
Tensor segment_attention_half(const Tensor& q, const Tensor& k, const Tensor& v,
                              std::span<const int64_t> cu_seqlens, float scale) {
  const char* op = "segment_attention";
  for (const auto& [t, what] : {std::pair{&q, "q"}, {&k, "k"}, {&v, "v"}}) {
    check_float(*t, op, what);
    check_on_gpu(*t, op, what);
    if (t->dtype() != q.dtype())
      fail(ErrorKind::kInvalidArgument, "{}: q is {}, {} {}: they must match", op,
           dtype_name(q.dtype()), what, dtype_name(t->dtype()));
  }
  check_qkv_shapes(q, k, v, op);
  check_segments(q, k, cu_seqlens, op);
  const int64_t tokens = q.size(0), heads = q.size(1), d = q.size(2);
  const bool aligned = aligned16(q.raw_data()) && aligned16(k.raw_data()) &&
                       aligned16(v.raw_data());  // out is a fresh allocation
  const FlashKernel kernel = q.dtype() == DType::kBF16
                                ? flash_kernel_for(tokens, int(heads), int(d), scale, aligned)
                                : FlashKernel::kNone;
  if (kernel == FlashKernel::kNone)
    return convert(segment_attention(convert(q, DType::kF32), convert(k, DType::kF32),
                                     convert(v, DType::kF32), cu_seqlens, scale),
                   q.dtype());
  SegmentFlash flash = segment_flash(q.raw_data(), heads * d, tokens, heads, d, cu_seqlens, scale);
  flash.args.k = k.data<uint16_t>();
  flash.args.v = v.data<uint16_t>();
  flash.args.kv_key_stride = heads * d;
  flash.args.kv_head_stride = d;
  check_launch(launch_flash(flash.args, kernel), op);
  return flash.out;
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
  const char* op = "segment_attention";
  if (q.dtype() != DType::kF32) return segment_attention_half(q, k, v, cu_seqlens, scale);
  cuda_kernels::AttentionArgs args = check_qkv(q, k, v, op);
  check_segments(q, k, cu_seqlens, op);
  const Tensor device_ranges = device_key_ranges(cu_seqlens, &args.max_keys);
  Tensor out =
      Tensor::empty({args.tokens, int64_t(args.heads) * args.head_dim}, DType::kF32, Device::kCUDA);
  args.out = out.data<float>();
  args.key_ranges = device_ranges.data<int32_t>();
  args.scale = scale;
  dispatch_attention(args, op);
  return out;
}

Tensor rotary_segment_attention(const Tensor& qkv, int64_t heads, const Tensor& cos,
                                const Tensor& sin, RotaryLayout layout,
                                std::span<const int64_t> cu_seqlens, float scale) {
  const char* op = "rotary_segment_attention";
  check_on_gpu(qkv, op, "qkv");
  check_float(qkv, op, "qkv");
  check_gpu_f32(cos, op, "cos");
  check_gpu_f32(sin, op, "sin");
  if (qkv.dim() != 2 || heads <= 0 || qkv.size(1) % (3 * heads) != 0)
    fail(ErrorKind::kInvalidArgument, "{}: qkv {} must be [n, 3 × {} · head_dim]", op,
         shape_string(qkv.shape()), heads);
  const int64_t tokens = qkv.size(0), d = qkv.size(1) / (3 * heads);
  check_cu_seqlens(tokens, cu_seqlens, op);
  const bool fused = qkv.dtype() == DType::kBF16 && layout == RotaryLayout::kHalves &&
                     d % 16 == 0 && cos.dim() == 2 && cos.size(0) == tokens &&
                     cos.size(1) == d / 2 && sin.shape() == cos.shape() &&
                     aligned16(qkv.raw_data()) && aligned16(cos.raw_data()) &&
                     aligned16(sin.raw_data());
  const FlashKernel kernel =
      fused ? flash_kernel_for(tokens, int(heads), int(d), scale, true) : FlashKernel::kNone;
  if (kernel == FlashKernel::kNone) {
    const auto [q, k, v] = cuda::split_qkv_rotary(qkv, heads, heads, cos, sin, layout, qkv.dtype());
    return cuda::segment_attention(q, k, v, cu_seqlens, scale);
  }
  // q and k rotated, laid out as qkv (its v third unwritten): q, k and v then share one layout.
  const Tensor rotated = Tensor::empty(qkv.shape(), DType::kBF16, Device::kCUDA);
  check_launch(cuda_kernels::rotate_qk_packed_halves(qkv.raw_data(), rotated.raw_data(),
                                                     cos.data<float>(), sin.data<float>(), tokens,
                                                     int(heads), int(heads), int(d)),
               op);
  const int64_t row = 3 * heads * d;
  SegmentFlash flash = segment_flash(rotated.raw_data(), row, tokens, heads, d, cu_seqlens, scale);
  flash.args.k = rotated.data<uint16_t>() + heads * d;
  flash.args.v = qkv.data<uint16_t>() + 2 * heads * d;
  flash.args.kv_key_stride = row;
  flash.args.kv_head_stride = d;
  check_launch(launch_flash(flash.args, kernel), op);
  return flash.out;
}

}  // namespace glimpse::ops::cuda
