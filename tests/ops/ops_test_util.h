// Helpers for the op tests: seeded random tensors and a relative-error measure.
#pragma once

#include <cmath>
#include <random>
#include <vector>

#include "core/tensor.h"

namespace glimpse::ops::testing {

inline Tensor random_tensor(Shape shape, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> values(size_t(shape_numel(shape)));
  for (float& v : values) v = normal(rng);
  return Tensor::from_vector(values, std::move(shape));
}

// ‖actual − expected‖₂ / ‖expected‖₂ over all elements.
inline double relative_l2(const Tensor& actual, const std::vector<double>& expected) {
  double diff = 0, norm = 0;
  const float* a = actual.data<float>();
  for (size_t i = 0; i < expected.size(); ++i) {
    diff += (a[i] - expected[i]) * (a[i] - expected[i]);
    norm += expected[i] * expected[i];
  }
  return std::sqrt(diff / norm);
}

}  // namespace glimpse::ops::testing
