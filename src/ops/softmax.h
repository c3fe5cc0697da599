// Softmax over the last dimension.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/tensor.h"
#include "ops/dispatch.h"

namespace glimpse::ops {

namespace cpu {
Tensor softmax(const Tensor& x);

// In place over n floats, max-subtracted so large logits cannot overflow. Shared with attention.
inline void softmax_row(float* x, int64_t n) {
  float max_value = -INFINITY;
  for (int64_t i = 0; i < n; ++i) max_value = x[i] > max_value ? x[i] : max_value;
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max_value);
    sum += x[i];
  }
  const float inv_sum = 1.0f / sum;
  for (int64_t i = 0; i < n; ++i) x[i] *= inv_sum;
}
}  // namespace cpu
namespace cuda {
Tensor softmax(const Tensor& x);
}

// x: f32 [..., n]; each row of n sums to 1.
inline Tensor softmax(const Tensor& x) {
  GLIMPSE_OPS_DISPATCH(x, softmax, x);
}

}  // namespace glimpse::ops
