#include <cmath>

#include "core/thread_pool.h"
#include "ops/convert.h"
#include "ops/norms.h"
#include "ops/shape_checks.h"

namespace glimpse::ops::cpu {
namespace {

int64_t check_row_op(const Tensor& x, const Tensor& weight, const char* op) {
  check_f32(x, op, "input");
  check_f32(weight, op, "weight");
  return check_row_shapes(x, weight, op);
}

}  // namespace

// Per row: reads and writes d floats, ~4 FLOPs per element; a half output is rounded last.
Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps, DType out_dtype) {
  const int64_t d = check_row_op(x, weight, "rms_norm");
  check_float_output(out_dtype, "rms_norm");
  Tensor y = Tensor::empty(x.shape(), DType::kF32);
  const float* in = x.data<float>();
  const float* w = weight.data<float>();
  float* out = y.data<float>();
  ThreadPool::global().parallel_for(x.numel() / d, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* row = in + r * d;
      float sum_sq = 0.0f;
      for (int64_t i = 0; i < d; ++i) sum_sq += row[i] * row[i];
      const float inv_rms = 1.0f / std::sqrt(sum_sq / float(d) + eps);
      for (int64_t i = 0; i < d; ++i) out[r * d + i] = w[i] * (row[i] * inv_rms);
    }
  });
  return convert(y, out_dtype);
}

// Per row: two passes over d floats (mean, then variance and output).
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
  const int64_t d = check_row_op(x, weight, "layer_norm");
  check_f32(bias, "layer_norm", "bias");
  if (bias.numel() != d)
    fail(ErrorKind::kInvalidArgument, "layer_norm: bias {} does not match {} features",
         shape_string(bias.shape()), d);
  Tensor y = Tensor::empty(x.shape(), DType::kF32);
  const float* in = x.data<float>();
  const float* w = weight.data<float>();
  const float* b = bias.data<float>();
  float* out = y.data<float>();
  ThreadPool::global().parallel_for(x.numel() / d, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* row = in + r * d;
      float sum = 0.0f;
      for (int64_t i = 0; i < d; ++i) sum += row[i];
      const float mean = sum / float(d);
      float sum_sq = 0.0f;
      for (int64_t i = 0; i < d; ++i) sum_sq += (row[i] - mean) * (row[i] - mean);
      const float inv_std = 1.0f / std::sqrt(sum_sq / float(d) + eps);
      for (int64_t i = 0; i < d; ++i) out[r * d + i] = (row[i] - mean) * inv_std * w[i] + b[i];
    }
  });
  return y;
}

}  // namespace glimpse::ops::cpu
