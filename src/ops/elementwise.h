// Element-wise ops: the residual add, activations, and the gated MLP's act(gate) · up.
#pragma once

#include <string_view>

#include "core/tensor.h"
#include "ops/dispatch.h"

namespace glimpse::ops {

enum class Activation { kSilu, kGelu };  // kGelu is the exact (erf) GELU of nn.GELU()
// "silu"/"swish" or "gelu"; anything else throws Error(kUnsupported) naming it and `where`.
Activation parse_activation(std::string_view name, std::string_view where);

namespace cpu {
void add_inplace(Tensor& x, const Tensor& y);
Tensor activation(const Tensor& x, Activation act);
Tensor gated_activation(const Tensor& gate_up, Activation act, DType out = DType::kF32);
}  // namespace cpu
namespace cuda {
void add_inplace(Tensor& x, const Tensor& y);
Tensor activation(const Tensor& x, Activation act);
Tensor gated_activation(const Tensor& gate_up, Activation act, DType out = DType::kF32);
}  // namespace cuda

// x += y, both f32 of the same shape.
inline void add_inplace(Tensor& x, const Tensor& y) {
  GLIMPSE_OPS_DISPATCH(x, add_inplace, x, y);
}

// act(x), element-wise.
inline Tensor activation(const Tensor& x, Activation act) {
  GLIMPSE_OPS_DISPATCH(x, activation, x, act);
}

// gate_up: [rows, 2·n] (f32, bf16 or f16), the gate in the first n columns and up in the last n
// (as GLM's fused gate_up_proj). Returns act(gate) · up, [rows, n] in `out` (f32, bf16 or f16),
// computed in f32.
inline Tensor gated_activation(const Tensor& gate_up, Activation act, DType out = DType::kF32) {
  GLIMPSE_OPS_DISPATCH(gate_up, gated_activation, gate_up, act, out);
}

}  // namespace glimpse::ops
