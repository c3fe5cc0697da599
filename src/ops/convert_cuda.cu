// Float conversions, f32 ↔ bf16/f16: each element read once and written once (4 + 2 bytes), eight
// elements per thread and step with 16-byte (or 32-byte f32) accesses where the pointers allow.
#include "ops/common_cuda.cuh"
#include "ops/half_cuda.cuh"
#include "ops/kernels_cuda.h"

namespace glimpse::ops::cuda_kernels {
namespace {

constexpr int kThreads = 256;

template <typename From, typename To>
__global__ void convert_kernel(const From* __restrict__ src, To* __restrict__ dst, int64_t n,
                               bool vec) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (vec) {
    for (int64_t i = first; i < n / 8; i += stride) {
      float v[8];
      load8(src + 8 * i, v);
      store8(dst + 8 * i, v);
    }
  } else {
    for (int64_t i = first; i < n; i += stride) dst[i] = from_f32<To>(to_f32(src[i]));
  }
}

template <typename From, typename To>
void launch(const void* src, void* dst, int64_t n) {
  const bool vec = n % 8 == 0 && aligned16(src, dst);
  convert_kernel<<<grid_for(vec ? n / 8 : n, kThreads), kThreads>>>(static_cast<const From*>(src),
                                                                    static_cast<To*>(dst), n, vec);
}

template <typename From>
cudaError_t convert_from(const void* src, void* dst, FloatType to, int64_t n) {
  switch (to) {
    case FloatType::kF32:
      launch<From, float>(src, dst, n);
      break;
    case FloatType::kBF16:
      launch<From, __nv_bfloat16>(src, dst, n);
      break;
    case FloatType::kF16:
      launch<From, __half>(src, dst, n);
      break;
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t convert(const void* src, FloatType from, void* dst, FloatType to, int64_t n) {
  if (n == 0) return cudaSuccess;
  switch (from) {
    case FloatType::kF32:
      return convert_from<float>(src, dst, to, n);
    case FloatType::kBF16:
      return convert_from<__nv_bfloat16>(src, dst, to, n);
    case FloatType::kF16:
      return convert_from<__half>(src, dst, to, n);
  }
  return cudaErrorInvalidValue;
}

}  // namespace glimpse::ops::cuda_kernels
