// Helpers shared by golden_cuda_test.cc and full_size_parity.cc: host copies, relative L2, ids and
// position columns, argmax and the top-1/top-2 margin.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/device_copy.h"
#include "core/error.h"
#include "core/npy.h"
#include "core/tensor.h"

namespace glimpse::model::parity {

// `t` as a host float32 tensor (a copy; `t` may live on the GPU and be bf16/f16/f32).
inline Tensor host_f32(const Tensor& t) {
  const Tensor host = to_device(t, Device::kCPU);
  return host.dtype() == DType::kF32 ? host : host.to_f32();
}

// ‖actual − expected‖₂ / ‖expected‖₂ in double; infinity on a size mismatch or a non-finite value.
inline double relative_l2(const float* actual, const float* expected, int64_t n) {
  double diff = 0, norm = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double a = actual[i], e = expected[i];
    if (!std::isfinite(a)) return std::numeric_limits<double>::infinity();
    diff += (a - e) * (a - e);
    norm += e * e;
  }
  return norm > 0 ? std::sqrt(diff / norm) : std::numeric_limits<double>::infinity();
}

inline double relative_l2(const Tensor& actual, const Tensor& expected) {
  const Tensor a = host_f32(actual), e = host_f32(expected);
  if (a.numel() != e.numel()) return std::numeric_limits<double>::infinity();
  return relative_l2(a.data<float>(), e.data<float>(), a.numel());
}

inline std::vector<int32_t> read_ids(const std::string& path) {
  const Tensor ids = read_npy(path);
  std::vector<int32_t> out;
  out.reserve(size_t(ids.numel()));
  for (int64_t i = 0; i < ids.numel(); ++i) out.push_back(int32_t(ids.data<int64_t>()[i]));
  return out;
}

// int64 [3, 1]: one decode token at `position` on all three M-RoPE axes (the reference's rule
// after the prompt: next_position + step).
inline Tensor decode_position(int64_t position) {
  Tensor out = Tensor::empty({3, 1}, DType::kI64);
  for (int64_t axis = 0; axis < 3; ++axis) out.data<int64_t>()[axis] = position;
  return out;
}

struct Top2 {
  int32_t first = -1, second = -1;
  double margin = 0;  // logit[first] - logit[second]
};

inline Top2 top2(const float* logits, int64_t n) {
  Top2 t;
  for (int64_t i = 0; i < n; ++i) {
    if (t.first < 0 || logits[i] > logits[t.first]) {
      t.second = t.first;
      t.first = int32_t(i);
    } else if (t.second < 0 || logits[i] > logits[t.second]) {
      t.second = int32_t(i);
    }
  }
  t.margin = double(logits[t.first]) - double(logits[t.second]);
  return t;
}

}  // namespace glimpse::model::parity
