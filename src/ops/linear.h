// y = x · Wᵀ (+ b), the projection of every layer, and y += x · Wᵀ, a projection onto a residual.
#pragma once

#include "core/tensor.h"
#include "ops/dispatch.h"

namespace glimpse::ops {

namespace cpu {
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor* bias = nullptr,
              DType out = DType::kF32);
void add_linear(Tensor& y, const Tensor& x, const Tensor& weight);
}  // namespace cpu
namespace cuda {
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor* bias = nullptr,
              DType out = DType::kF32);
void add_linear(Tensor& y, const Tensor& x, const Tensor& weight);
}  // namespace cuda

// x: [..., in], f32 or the weight's half type; weight: f32, bf16 or f16 [out, in] (nn.Linear
// layout); bias: [out] in f32 or in `out`'s half dtype, or nullptr. Returns [rows, out] in `out`
// (F32 or the weight's half type), where rows = x.numel() / in. Products and sums are f32
// whatever the dtypes.
inline Tensor linear(const Tensor& x, const Tensor& weight, const Tensor* bias = nullptr,
                     DType out = DType::kF32) {
  GLIMPSE_OPS_DISPATCH(x, linear, x, weight, bias, out);
}

// y += x · Wᵀ with y f32 [rows, out] and x, weight as for linear. On the GPU the sum is the GEMM's
// epilogue: no output tensor and no separate pass over y.
inline void add_linear(Tensor& y, const Tensor& x, const Tensor& weight) {
  GLIMPSE_OPS_DISPATCH(y, add_linear, y, x, weight);
}

}  // namespace glimpse::ops
