#include "ops/common_cuda.h"
#include "ops/fused.h"
#include "ops/fused_kernels_cuda.h"
#include "ops/shape_checks.h"

namespace glimpse::ops::cuda {

Tensor residual_rms_norm(Tensor& hidden, const Tensor& x, const Tensor& x_weight,
                         const Tensor* next_weight, float eps) {
  const char* op = "residual_rms_norm";
  check_gpu_f32(hidden, op, "hidden");
  check_gpu_f32(x, op, "x");
  const int64_t d = check_row_shapes(x, x_weight, op);
  check_gpu_f32(x_weight, op, "x_weight");
  if (hidden.shape() != x.shape())
    fail(ErrorKind::kInvalidArgument, "{}: hidden {} and x {} differ", op,
         shape_string(hidden.shape()), shape_string(x.shape()));
  Tensor next;
  if (next_weight) {
    check_gpu_f32(*next_weight, op, "next_weight");
    check_row_shapes(hidden, *next_weight, op);
    next = Tensor::empty(hidden.shape(), DType::kF32, Device::kCUDA);
  }
  check_launch(cuda_kernels::residual_rms_norm(
                   hidden.data<float>(), x.data<float>(), x_weight.data<float>(),
                   next_weight ? next_weight->data<float>() : nullptr,
                   next_weight ? next.data<float>() : nullptr, x.numel() / d, int(d), eps),
               op);
  return next;
}

QkvParts split_qkv_rotary(const Tensor& qkv, int64_t heads, int64_t kv_heads, const Tensor& cos,
                          const Tensor& sin, RotaryLayout layout) {
  const char* op = "split_qkv_rotary";
  check_gpu_f32(qkv, op, "qkv");
  check_gpu_f32(cos, op, "cos");
  check_gpu_f32(sin, op, "sin");
  const int64_t slots = heads + 2 * kv_heads;
  if (qkv.dim() != 2 || heads <= 0 || kv_heads <= 0 || qkv.size(1) % slots != 0)
    fail(ErrorKind::kInvalidArgument, "{}: qkv {} must be [n, ({} + 2 × {}) · head_dim]", op,
         shape_string(qkv.shape()), heads, kv_heads);
  const int64_t n = qkv.size(0), d = qkv.size(1) / slots;
  QkvParts parts{Tensor::empty({n, heads, d}, DType::kF32, Device::kCUDA),
                 Tensor::empty({n, kv_heads, d}, DType::kF32, Device::kCUDA),
                 Tensor::empty({n, kv_heads, d}, DType::kF32, Device::kCUDA)};
  check_rotary_shapes(parts.q, cos, sin);
  const int64_t pairs = cos.size(1);
  const bool interleaved = layout == RotaryLayout::kInterleaved;
  check_launch(cuda_kernels::split_qkv_rotary(
                   qkv.data<float>(), parts.q.data<float>(), parts.k.data<float>(),
                   parts.v.data<float>(), cos.data<float>(), sin.data<float>(), n, int(heads),
                   int(kv_heads), int(d), int(pairs), interleaved ? 2 : 1,
                   interleaved ? 1 : int(pairs)),
               op);
  return parts;
}

}  // namespace glimpse::ops::cuda
