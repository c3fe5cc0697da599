// Softmax over rows, one block per row: three passes (max, Σexp, write) over the row, the first
// from memory and the others mostly from L2, so ≈ 8 B of DRAM traffic per element. 16-byte
// accesses when rows allow; a single long row (decode logits) still runs on one SM.
#include "ops/common_cuda.cuh"
#include "ops/kernels_cuda.h"

namespace glimpse::ops::cuda_kernels {
namespace {

constexpr int kThreads = 1024;

__device__ inline float max4(float4 v) {
  return fmaxf(fmaxf(v.x, v.y), fmaxf(v.z, v.w));
}

__global__ void softmax_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n,
                               bool vec) {
  __shared__ float scratch[32];
  const float* row = x + int64_t(blockIdx.x) * n;
  float* out = y + int64_t(blockIdx.x) * n;
  const float4* row4 = reinterpret_cast<const float4*>(row);
  float4* out4 = reinterpret_cast<float4*>(out);
  const int64_t n4 = vec ? n / 4 : 0;  // the vector part; the scalar loops cover the rest
  float max_value = -INFINITY;
  for (int64_t i = threadIdx.x; i < n4; i += blockDim.x)
    max_value = fmaxf(max_value, max4(row4[i]));
  for (int64_t i = 4 * n4 + threadIdx.x; i < n; i += blockDim.x)
    max_value = fmaxf(max_value, row[i]);
  max_value = block_max(max_value, scratch);
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < n4; i += blockDim.x) {
    const float4 v = row4[i];
    sum += expf(v.x - max_value) + expf(v.y - max_value) + expf(v.z - max_value) +
           expf(v.w - max_value);
  }
  for (int64_t i = 4 * n4 + threadIdx.x; i < n; i += blockDim.x) sum += expf(row[i] - max_value);
  const float inv_sum = 1.0f / block_sum(sum, scratch);
  for (int64_t i = threadIdx.x; i < n4; i += blockDim.x) {
    const float4 v = row4[i];
    out4[i] = make_float4(expf(v.x - max_value) * inv_sum, expf(v.y - max_value) * inv_sum,
                          expf(v.z - max_value) * inv_sum, expf(v.w - max_value) * inv_sum);
  }
  for (int64_t i = 4 * n4 + threadIdx.x; i < n; i += blockDim.x)
    out[i] = expf(row[i] - max_value) * inv_sum;
}

}  // namespace

cudaError_t softmax(const float* x, float* y, int64_t rows, int64_t n) {
  if (rows == 0) return cudaSuccess;
  const bool vec = n % 4 == 0 && aligned16(x, y);
  softmax_kernel<<<unsigned(rows), kThreads>>>(x, y, n, vec);
  return cudaGetLastError();
}

}  // namespace glimpse::ops::cuda_kernels
