// Shape contracts of the ops, checked once for both devices: X_cpu.cc and X_cuda.cc check where
// their tensors live (check_f32 / check_gpu_f32), then call these.
#pragma once

#include <cstdint>
#include <span>

#include "core/tensor.h"

namespace glimpse::ops {

// linear / add_linear: x [..., in] in f32 or the weight's half type; weight a 2-D f32, bf16 or f16
// matrix [out, in]; bias f32 [out] or null; the output f32 or the weight's half type. Checks
// dtypes and shapes (not devices) and returns the GEMM's sizes.
struct LinearShape {
  int64_t rows, out_features, in_features;
};
LinearShape check_linear(const Tensor& x, const Tensor& weight, const Tensor* bias, DType out,
                         const char* op);
// An output dtype the float ops write: f32, bf16 or f16.
void check_float_output(DType out, const char* op);
// gated_activation: gate_up a float tensor [rows, 2·n], out a float dtype.
void check_gated_shapes(const Tensor& gate_up, DType out);
// Row-wise ops over the last dimension (rms_norm, layer_norm): returns the row width.
int64_t check_row_shapes(const Tensor& x, const Tensor& weight, const char* op);
// rotary_inplace: x [tokens, heads, head_dim], cos and sin [tokens, pairs ≤ head_dim / 2].
void check_rotary_shapes(const Tensor& x, const Tensor& cos, const Tensor& sin);
// rotary_tables: positions int64 [axes, n] on the host, pair_axis and inv_freq of one length, every
// axis below `axes`.
void check_rotary_table_inputs(const Tensor& positions, std::span<const int32_t> pair_axis,
                               std::span<const float> inv_freq);
// bicubic_grid_sample: map [height, width, channels], points [n, 2].
void check_grid_sample_shapes(const Tensor& map, const Tensor& points);
// pixels_from_bytes: bytes U8 [rows, channels · area], levels F32 [channels, 256], out a float
// tensor [rows, channels · copies · area]; dtypes and shapes (not devices).
void check_pixels_from_bytes(const Tensor& bytes, const Tensor& levels, const Tensor& out);
// Attention: q [n, heads, d], k and v [keys, kv_heads, d] with kv_heads dividing heads.
void check_qkv_shapes(const Tensor& q, const Tensor& k, const Tensor& v, const char* op);

}  // namespace glimpse::ops
