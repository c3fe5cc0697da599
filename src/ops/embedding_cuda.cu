// Embedding gather: one block per id copies its row (d elements of 4 or 2 bytes) into f32.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "ops/common_cuda.cuh"
#include "ops/kernels_cuda.h"

namespace glimpse::ops::cuda_kernels {
namespace {

constexpr int kThreads = 256;

__global__ void embedding_kernel(const void* __restrict__ table, FloatType type,
                                 const int32_t* __restrict__ ids, int64_t d,
                                 float* __restrict__ out) {
  const int64_t id = ids[blockIdx.x];
  float* dst = out + int64_t(blockIdx.x) * d;
  if (type == FloatType::kF32) {
    const float* src = static_cast<const float*>(table) + id * d;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) dst[j] = src[j];
  } else if (type == FloatType::kBF16) {
    const __nv_bfloat16* src = static_cast<const __nv_bfloat16*>(table) + id * d;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) dst[j] = __bfloat162float(src[j]);
  } else {
    const __half* src = static_cast<const __half*>(table) + id * d;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) dst[j] = __half2float(src[j]);
  }
}

}  // namespace

cudaError_t embedding(const void* table, FloatType type, const int32_t* ids, int64_t count,
                      int64_t d, float* out) {
  if (count == 0 || d == 0) return cudaSuccess;
  embedding_kernel<<<unsigned(count), kThreads>>>(table, type, ids, d, out);
  return cudaGetLastError();
}

}  // namespace glimpse::ops::cuda_kernels
