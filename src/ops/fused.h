// Fusions of the decoder's small per-layer ops. Each is defined as a composition of the plain ops
// (the CPU variant runs exactly that composition, so CPU results do not change); the CUDA variant
// does it in one kernel, which matters in decode, where every launch costs more than its bytes.
#pragma once

#include "core/tensor.h"
#include "ops/dispatch.h"
#include "ops/elementwise.h"
#include "ops/rotary.h"

namespace glimpse::ops {

struct QkvParts {
  Tensor q, k, v;
};

namespace cpu {
Tensor residual_rms_norm(Tensor& hidden, const Tensor& x, const Tensor& x_weight,
                         const Tensor* next_weight, float eps);
QkvParts split_qkv_rotary(const Tensor& qkv, int64_t heads, int64_t kv_heads, const Tensor& cos,
                          const Tensor& sin, RotaryLayout layout, DType out = DType::kF32);
Tensor gated_linear(const Tensor& x, const Tensor& gate_up_weight, Activation act,
                    DType out = DType::kF32);
}  // namespace cpu
namespace cuda {
Tensor residual_rms_norm(Tensor& hidden, const Tensor& x, const Tensor& x_weight,
                         const Tensor* next_weight, float eps);
QkvParts split_qkv_rotary(const Tensor& qkv, int64_t heads, int64_t kv_heads, const Tensor& cos,
                          const Tensor& sin, RotaryLayout layout, DType out = DType::kF32);
Tensor gated_linear(const Tensor& x, const Tensor& gate_up_weight, Activation act,
                    DType out = DType::kF32);
}  // namespace cuda

// GLM's sandwich residual: hidden += rms_norm(x, x_weight); then returns rms_norm(hidden,
// *next_weight) (the next sub-layer's input), or an undefined tensor when next_weight is null.
// hidden, x: f32 [rows, d]; weights f32 [d].
inline Tensor residual_rms_norm(Tensor& hidden, const Tensor& x, const Tensor& x_weight,
                                const Tensor* next_weight, float eps) {
  GLIMPSE_OPS_DISPATCH(hidden, residual_rms_norm, hidden, x, x_weight, next_weight, eps);
}

// qkv: f32, bf16 or f16 [n, (heads + 2·kv_heads) · head_dim], each row [q | k | v]. Returns q
// [n, heads, head_dim], k and v [n, kv_heads, head_dim] in `out` (f32, bf16 or f16), with q and k
// rotated in f32 as rotary_inplace does (cos, sin [n, pairs]).
inline QkvParts split_qkv_rotary(const Tensor& qkv, int64_t heads, int64_t kv_heads,
                                 const Tensor& cos, const Tensor& sin, RotaryLayout layout,
                                 DType out = DType::kF32) {
  GLIMPSE_OPS_DISPATCH(qkv, split_qkv_rotary, qkv, heads, kv_heads, cos, sin, layout, out);
}

// The gated MLP's first half, gated_activation(linear(x, gate_up_weight), act, out): x as for
// linear, gate_up_weight [2·n, in] with the gate rows over the up rows. Decode rows on the GPU
// compute both halves and the activation in one pass over the weight; more rows take the GEMM's
// output in the weight's dtype (half the bytes) into gated_activation. Returns [rows, n] in `out`.
inline Tensor gated_linear(const Tensor& x, const Tensor& gate_up_weight, Activation act,
                           DType out = DType::kF32) {
  GLIMPSE_OPS_DISPATCH(x, gated_linear, x, gate_up_weight, act, out);
}

}  // namespace glimpse::ops
