#include "core/thread_pool.h"
#include "ops/convert.h"
#include "ops/shape_checks.h"

namespace glimpse::ops::cpu {

// Reads and writes each element once.
Tensor convert(const Tensor& x, DType dtype) {
  check_float(x, "convert", "input");
  check_float_output(dtype, "convert");
  if (x.dtype() == dtype) return x;
  const Tensor wide = x.to_f32();
  if (dtype == DType::kF32) return wide;
  Tensor y = Tensor::empty(x.shape(), dtype);
  const float* src = wide.data<float>();
  uint16_t* dst = y.data<uint16_t>();
  const bool bf16 = dtype == DType::kBF16;
  ThreadPool::global().parallel_for(x.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) dst[i] = bf16 ? f32_to_bf16(src[i]) : f32_to_f16(src[i]);
  });
  return y;
}

}  // namespace glimpse::ops::cpu
