// The activations of the element-wise kernels and the gated matvec, as the CPU ops compute them.
#pragma once

#include "ops/kernels_cuda.h"

namespace glimpse::ops::cuda_kernels {

__device__ inline float apply_activation(ActivationKind act, float v) {
  if (act == ActivationKind::kSilu) return v / (1.0f + expf(-v));
  return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));  // exact GELU
}

}  // namespace glimpse::ops::cuda_kernels
