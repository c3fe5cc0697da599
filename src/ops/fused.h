// Fusions of the decoder's small per-layer ops. Each is defined as a composition of the plain ops
// (the CPU variant runs exactly that composition, so CPU results do not change); the CUDA variant
// does it in one kernel, which matters in decode, where every launch costs more than its bytes.
#pragma once

#include "core/tensor.h"
#include "ops/dispatch.h"
#include "ops/rotary.h"

namespace glimpse::ops {

struct QkvParts {
  Tensor q, k, v;
};

namespace cpu {
Tensor residual_rms_norm(Tensor& hidden, const Tensor& x, const Tensor& x_weight,
                         const Tensor* next_weight, float eps);
QkvParts split_qkv_rotary(const Tensor& qkv, int64_t heads, int64_t kv_heads, const Tensor& cos,
                          const Tensor& sin, RotaryLayout layout);
}  // namespace cpu
namespace cuda {
Tensor residual_rms_norm(Tensor& hidden, const Tensor& x, const Tensor& x_weight,
                         const Tensor* next_weight, float eps);
QkvParts split_qkv_rotary(const Tensor& qkv, int64_t heads, int64_t kv_heads, const Tensor& cos,
                          const Tensor& sin, RotaryLayout layout);
}  // namespace cuda

// GLM's sandwich residual: hidden += rms_norm(x, x_weight); then returns rms_norm(hidden,
// *next_weight) (the next sub-layer's input), or an undefined tensor when next_weight is null.
// hidden, x: f32 [rows, d]; weights f32 [d].
inline Tensor residual_rms_norm(Tensor& hidden, const Tensor& x, const Tensor& x_weight,
                                const Tensor* next_weight, float eps) {
  GLIMPSE_OPS_DISPATCH(hidden, residual_rms_norm, hidden, x, x_weight, next_weight, eps);
}

// qkv: f32 [n, (heads + 2·kv_heads) · head_dim], each row [q | k | v]. Returns contiguous q
// [n, heads, head_dim], k and v [n, kv_heads, head_dim], with q and k rotated as rotary_inplace
// does (cos, sin [n, pairs]).
inline QkvParts split_qkv_rotary(const Tensor& qkv, int64_t heads, int64_t kv_heads,
                                 const Tensor& cos, const Tensor& sin, RotaryLayout layout) {
  GLIMPSE_OPS_DISPATCH(qkv, split_qkv_rotary, qkv, heads, kv_heads, cos, sin, layout);
}

}  // namespace glimpse::ops
