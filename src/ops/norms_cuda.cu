// Row normalisations, one block per row: the row is read from memory once (later passes hit L1/L2)
// and written once, so each costs 8·d bytes per row plus the d weights shared by all rows.
#include "ops/common_cuda.cuh"
#include "ops/kernels_cuda.h"

namespace glimpse::ops::cuda_kernels {
namespace {

constexpr int kThreads = 256;

// Σ f(x[i]) over one row, 16-byte loads when `vec` (d % 4 == 0 and aligned rows).
template <typename F>
__device__ float row_sum(const float* row, int d, bool vec, F f) {
  float sum = 0.0f;
  if (vec) {
    const float4* row4 = reinterpret_cast<const float4*>(row);
    for (int i = threadIdx.x; i < d / 4; i += blockDim.x) {
      const float4 v = row4[i];
      sum += f(v.x) + f(v.y) + f(v.z) + f(v.w);
    }
  } else {
    for (int i = threadIdx.x; i < d; i += blockDim.x) sum += f(row[i]);
  }
  return sum;
}

// out[i] = g(x[i], i) over one row.
template <typename G>
__device__ void row_map(const float* row, float* out, int d, bool vec, G g) {
  if (vec) {
    const float4* row4 = reinterpret_cast<const float4*>(row);
    float4* out4 = reinterpret_cast<float4*>(out);
    for (int i = threadIdx.x; i < d / 4; i += blockDim.x) {
      const float4 v = row4[i];
      out4[i] = make_float4(g(v.x, 4 * i), g(v.y, 4 * i + 1), g(v.z, 4 * i + 2), g(v.w, 4 * i + 3));
    }
  } else {
    for (int i = threadIdx.x; i < d; i += blockDim.x) out[i] = g(row[i], i);
  }
}

__global__ void rms_norm_kernel(const float* __restrict__ x, const float* __restrict__ weight,
                                float* __restrict__ y, int d, float eps, bool vec) {
  __shared__ float scratch[32];
  const float* row = x + int64_t(blockIdx.x) * d;
  const float sum_sq = block_sum(row_sum(row, d, vec, [](float v) { return v * v; }), scratch);
  const float inv_rms = 1.0f / sqrtf(sum_sq / float(d) + eps);
  row_map(row, y + int64_t(blockIdx.x) * d, d, vec,
          [&](float v, int i) { return weight[i] * (v * inv_rms); });
}

__global__ void layer_norm_kernel(const float* __restrict__ x, const float* __restrict__ weight,
                                  const float* __restrict__ bias, float* __restrict__ y, int d,
                                  float eps, bool vec) {
  __shared__ float scratch[32];
  const float* row = x + int64_t(blockIdx.x) * d;
  // Two passes (mean, then squared deviations) as the CPU op: no cancellation in E[x²] - E[x]².
  const float mean = block_sum(row_sum(row, d, vec, [](float v) { return v; }), scratch) / float(d);
  const float sum_sq =
      block_sum(row_sum(row, d, vec, [mean](float v) { return (v - mean) * (v - mean); }), scratch);
  const float inv_std = 1.0f / sqrtf(sum_sq / float(d) + eps);
  row_map(row, y + int64_t(blockIdx.x) * d, d, vec,
          [&](float v, int i) { return (v - mean) * inv_std * weight[i] + bias[i]; });
}

}  // namespace

cudaError_t rms_norm(const float* x, const float* weight, float* y, int64_t rows, int d,
                     float eps) {
  if (rows == 0) return cudaSuccess;
  const bool vec = d % 4 == 0 && aligned16(x, y);
  rms_norm_kernel<<<unsigned(rows), kThreads>>>(x, weight, y, d, eps, vec);
  return cudaGetLastError();
}

cudaError_t layer_norm(const float* x, const float* weight, const float* bias, float* y,
                       int64_t rows, int d, float eps) {
  if (rows == 0) return cudaSuccess;
  const bool vec = d % 4 == 0 && aligned16(x, y);
  layer_norm_kernel<<<unsigned(rows), kThreads>>>(x, weight, bias, y, d, eps, vec);
  return cudaGetLastError();
}

}  // namespace glimpse::ops::cuda_kernels
