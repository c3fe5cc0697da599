// Conversions between the float dtypes the ops compute in: f32 and the half types (bf16, f16),
// rounding to nearest even as torch does. On the GPU, activations between the GEMMs may be kept in
// the matrices' half type (half the bytes of every element-wise pass); the CPU ops compute in f32
// and widen a half input first.
#pragma once

#include "core/tensor.h"
#include "ops/dispatch.h"

namespace glimpse::ops {

namespace cpu {
Tensor convert(const Tensor& x, DType dtype);
}
namespace cuda {
Tensor convert(const Tensor& x, DType dtype);
}

// x (f32, bf16 or f16) as `dtype` (one of those), on x's device: x itself when it already is.
inline Tensor convert(const Tensor& x, DType dtype) {
  GLIMPSE_OPS_DISPATCH(x, convert, x, dtype);
}

}  // namespace glimpse::ops
