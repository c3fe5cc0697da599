#include "ops/shape_checks.h"

#include "core/error.h"
#include "ops/dispatch.h"

namespace glimpse::ops {

LinearShape check_linear(const Tensor& x, const Tensor& weight, const Tensor* bias, DType out,
                         const char* op) {
  if (!weight.defined() || weight.dim() != 2 || !is_float_weight(weight.dtype()))
    fail(ErrorKind::kInvalidArgument, "{}: weight must be a 2-D F32/BF16/F16 tensor", op);
  check_float(x, op, "input");
  const DType half = weight.dtype();
  if (x.dtype() != DType::kF32 && x.dtype() != half)
    fail(ErrorKind::kInvalidArgument, "{}: input is {}, the weight {}: the input must be F32 or {}",
         op, dtype_name(x.dtype()), dtype_name(half), dtype_name(half));
  if (out != DType::kF32 && out != half)
    fail(ErrorKind::kInvalidArgument, "{}: output {} must be F32 or the weight's {}", op,
         dtype_name(out), dtype_name(half));
  const int64_t out_features = weight.size(0), in_features = weight.size(1);
  if (in_features == 0 || x.dim() < 1 || x.size(-1) != in_features)
    fail(ErrorKind::kInvalidArgument, "{}: input {} does not end in the weight's {} input features",
         op, shape_string(x.shape()), in_features);
  if (bias) {
    check_float(*bias, op, "bias");
    if (bias->dtype() != DType::kF32 && bias->dtype() != out)
      fail(ErrorKind::kInvalidArgument, "{}: bias is {}: it must be F32 or the output's {}", op,
           dtype_name(bias->dtype()), dtype_name(out));
    if (bias->numel() != out_features)
      fail(ErrorKind::kInvalidArgument, "{}: bias {} does not match {} output features", op,
           shape_string(bias->shape()), out_features);
  }
  return {x.numel() / in_features, out_features, in_features};
}

void check_float_output(DType out, const char* op) {
  if (!is_float_weight(out))
    fail(ErrorKind::kInvalidArgument, "{}: output {} is not F32, BF16 or F16", op, dtype_name(out));
}

void check_gated_shapes(const Tensor& gate_up, DType out) {
  check_float(gate_up, "gated_activation", "input");
  check_float_output(out, "gated_activation");
  if (gate_up.dim() != 2 || gate_up.size(1) % 2 != 0)
    fail(ErrorKind::kInvalidArgument, "gated_activation: input must be [rows, 2·n], got {}",
         shape_string(gate_up.shape()));
}

int64_t check_row_shapes(const Tensor& x, const Tensor& weight, const char* op) {
  const int64_t d = weight.numel();
  if (d == 0 || x.dim() < 1 || x.size(-1) != d)
    fail(ErrorKind::kInvalidArgument, "{}: input {} does not end in the weight's {} features", op,
         shape_string(x.shape()), d);
  return d;
}

void check_rotary_shapes(const Tensor& x, const Tensor& cos, const Tensor& sin) {
  if (x.dim() != 3)
    fail(ErrorKind::kInvalidArgument, "rotary: input must be [tokens, heads, head_dim], got {}",
         shape_string(x.shape()));
  const int64_t tokens = x.size(0), head_dim = x.size(2);
  if (cos.dim() != 2 || cos.size(0) != tokens || cos.shape() != sin.shape() ||
      2 * cos.size(1) > head_dim)
    fail(ErrorKind::kInvalidArgument, "rotary: cos {} / sin {} must be [{}, ≤{}]",
         shape_string(cos.shape()), shape_string(sin.shape()), tokens, head_dim / 2);
}

void check_grid_sample_shapes(const Tensor& map, const Tensor& points) {
  if (map.dim() != 3 || map.size(0) == 0 || map.size(1) == 0)
    fail(ErrorKind::kInvalidArgument,
         "bicubic_grid_sample: map must be [height, width, channels], got {}",
         shape_string(map.shape()));
  if (points.dim() != 2 || points.size(1) != 2)
    fail(ErrorKind::kInvalidArgument, "bicubic_grid_sample: points must be [n, 2], got {}",
         shape_string(points.shape()));
}

void check_pixels_from_bytes(const Tensor& bytes, const Tensor& levels, const Tensor& out) {
  if (!bytes.defined() || !levels.defined() || !out.defined())
    fail(ErrorKind::kInvalidArgument, "pixels_from_bytes: a tensor is undefined");
  if (bytes.dtype() != DType::kU8 || levels.dtype() != DType::kF32 || !is_float_weight(out.dtype()))
    fail(ErrorKind::kInvalidArgument,
         "pixels_from_bytes: bytes U8, levels F32 and out F32, BF16 or F16 expected, got {}, {} "
         "and {}",
         dtype_name(bytes.dtype()), dtype_name(levels.dtype()), dtype_name(out.dtype()));
  const bool shapes_fit =
      bytes.dim() == 2 && levels.dim() == 2 && out.dim() == 2 && levels.size(0) > 0 &&
      levels.size(1) == 256 && bytes.size(1) % levels.size(0) == 0 && bytes.size(1) > 0 &&
      out.size(0) == bytes.size(0) && out.size(1) % bytes.size(1) == 0 && out.size(1) > 0;
  if (!shapes_fit)
    fail(ErrorKind::kInvalidArgument,
         "pixels_from_bytes: bytes {} must be [rows, channels * area], levels {} [channels, 256] "
         "and out {} [rows, channels * copies * area]",
         shape_string(bytes.shape()), shape_string(levels.shape()), shape_string(out.shape()));
}

void check_qkv_shapes(const Tensor& q, const Tensor& k, const Tensor& v, const char* op) {
  if (q.dim() != 3 || k.dim() != 3 || k.shape() != v.shape() || q.size(2) != k.size(2) ||
      k.size(1) == 0 || q.size(1) % k.size(1) != 0)
    fail(ErrorKind::kInvalidArgument,
         "{}: q {} must be [n, heads, d] and k {}, v {} [keys, kv_heads, d] with kv_heads dividing "
         "heads",
         op, shape_string(q.shape()), shape_string(k.shape()), shape_string(v.shape()));
}

void check_rotary_table_inputs(const Tensor& positions, std::span<const int32_t> pair_axis,
                               std::span<const float> inv_freq) {
  if (!positions.defined() || positions.dtype() != DType::kI64 || positions.dim() != 2 ||
      positions.device() != Device::kCPU)
    fail(ErrorKind::kInvalidArgument, "rotary_tables: positions must be host I64 [axes, n]");
  if (pair_axis.size() != inv_freq.size())
    fail(ErrorKind::kInvalidArgument, "rotary_tables: {} pair axes for {} frequencies",
         pair_axis.size(), inv_freq.size());
  for (size_t i = 0; i < pair_axis.size(); ++i)
    if (pair_axis[i] < 0 || pair_axis[i] >= positions.size(0))
      fail(ErrorKind::kInvalidArgument, "rotary_tables: pair {} uses axis {}, positions have {}",
           i, pair_axis[i], positions.size(0));
}

}  // namespace glimpse::ops
