#include "ops/common_cuda.h"
#include "ops/elementwise.h"
#include "ops/fused.h"
#include "ops/fused_kernels_cuda.h"
#include "ops/linear.h"
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
                          const Tensor& sin, RotaryLayout layout, DType out) {
  const char* op = "split_qkv_rotary";
  check_on_gpu(qkv, op, "qkv");
  check_float(qkv, op, "qkv");
  check_gpu_f32(cos, op, "cos");
  check_gpu_f32(sin, op, "sin");
  const int64_t slots = heads + 2 * kv_heads;
  if (qkv.dim() != 2 || heads <= 0 || kv_heads <= 0 || qkv.size(1) % slots != 0)
    fail(ErrorKind::kInvalidArgument, "{}: qkv {} must be [n, ({} + 2 × {}) · head_dim]", op,
         shape_string(qkv.shape()), heads, kv_heads);
  const int64_t n = qkv.size(0), d = qkv.size(1) / slots;
  if (d % 2 != 0) fail(ErrorKind::kInvalidArgument, "{}: head_dim {} is odd", op, d);
  check_float_output(out, op);
  QkvParts parts{Tensor::empty({n, heads, d}, out, Device::kCUDA),
                 Tensor::empty({n, kv_heads, d}, out, Device::kCUDA),
                 Tensor::empty({n, kv_heads, d}, out, Device::kCUDA)};
  check_rotary_shapes(parts.q, cos, sin);
  const int64_t pairs = cos.size(1);
  const bool interleaved = layout == RotaryLayout::kInterleaved;
  check_launch(cuda_kernels::split_qkv_rotary(
                   qkv.raw_data(), float_type(qkv.dtype()), parts.q.raw_data(),
                   parts.k.raw_data(), parts.v.raw_data(), float_type(out), cos.data<float>(), sin.data<float>(), n, int(heads),
                   int(kv_heads), int(d), int(pairs), interleaved ? 2 : 1,
                   interleaved ? 1 : int(pairs)),
               op);
  return parts;
}

Tensor gated_linear(const Tensor& x, const Tensor& gate_up_weight, Activation act, DType out) {
  const char* op = "gated_linear";
  const LinearShape shape = check_linear(x, gate_up_weight, nullptr, DType::kF32, op);
  if (shape.out_features % 2 != 0)
    fail(ErrorKind::kInvalidArgument, "{}: weight {} must have 2·n rows (gate over up)", op,
         shape_string(gate_up_weight.shape()));
  if (shape.rows > cuda_kernels::kMatvecMaxRows || x.dtype() != DType::kF32 ||
      out != DType::kF32) {
    // gate_up in the weight's dtype: half the bytes written and read back, for one more rounding.
    const DType between = gate_up_weight.dtype();
    return cuda::gated_activation(cuda::linear(x, gate_up_weight, nullptr, between), act, out);
  }
  check_on_gpu(x, op, "input");
  check_on_gpu(gate_up_weight, op, "weight");
  const int64_t n = shape.out_features / 2;
  Tensor y = Tensor::empty({shape.rows, n}, DType::kF32, Device::kCUDA);
  check_launch(cuda_kernels::gated_matvec(
                   x.data<float>(), shape.rows, gate_up_weight.raw_data(),
                   float_type(gate_up_weight.dtype()), n, shape.in_features,
                   activation_kind(act), y.data<float>()),
               op);
  return y;
}

}  // namespace glimpse::ops::cuda
