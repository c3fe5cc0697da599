// y = x · Wᵀ (+ b), the projection of every layer.
#pragma once

#include "core/tensor.h"
#include "ops/dispatch.h"

namespace glimpse::ops {

namespace cpu {
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor* bias);
}
namespace cuda {
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor* bias);
}

// x: f32 [..., in]; weight: f32, bf16 or f16 [out, in] (nn.Linear layout); bias: f32 [out] or
// nullptr.
// Returns f32 [rows, out] where rows = x.numel() / in.
inline Tensor linear(const Tensor& x, const Tensor& weight, const Tensor* bias = nullptr) {
  GLIMPSE_OPS_DISPATCH(x, linear, x, weight, bias);
}

}  // namespace glimpse::ops
