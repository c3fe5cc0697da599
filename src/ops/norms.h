// Row normalisations: RMSNorm (every GLM block) and LayerNorm (the patch merger).
#pragma once

#include "core/tensor.h"
#include "ops/dispatch.h"

namespace glimpse::ops {

namespace cpu {
Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps, DType out = DType::kF32);
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps);
}  // namespace cpu
namespace cuda {
Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps, DType out = DType::kF32);
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps);
}  // namespace cuda

// x: f32 [..., d]; weight: f32 [d]. y = weight · x / sqrt(mean(x²) + eps), per row, computed in
// f32 and stored as `out` (f32, or bf16/f16 for a GEMM that takes it next).
inline Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps, DType out = DType::kF32) {
  GLIMPSE_OPS_DISPATCH(x, rms_norm, x, weight, eps, out);
}

// x: f32 [..., d]; weight, bias: f32 [d]. y = (x - mean) / sqrt(var + eps) · weight + bias.
inline Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
  GLIMPSE_OPS_DISPATCH(x, layer_norm, x, weight, bias, eps);
}

}  // namespace glimpse::ops
