// Row normalisations, one block per row: the row is read from memory once (later passes hit L1/L2)
// and written once, so each costs 8·d bytes per row plus the d weights shared by all rows.
#include "ops/common_cuda.cuh"
#include "ops/half_cuda.cuh"
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

template <typename Out>
__global__ void rms_norm_kernel(const float* __restrict__ x, const float* __restrict__ weight,
                                Out* __restrict__ y, int d, float eps, bool vec) {
  __shared__ float scratch[32];
  const float* row = x + int64_t(blockIdx.x) * d;
  const float sum_sq = block_sum(row_sum(row, d, vec, [](float v) { return v * v; }), scratch);
  const float inv_rms = 1.0f / sqrtf(sum_sq / float(d) + eps);
  Out* out = y + int64_t(blockIdx.x) * d;
  for (int i = threadIdx.x; i < d; i += blockDim.x)
    out[i] = from_f32<Out>(weight[i] * (row[i] * inv_rms));
}

// The same with the row in registers, kQuads float4 per thread (d % 4 == 0, aligned rows): every
// load of the row is in flight at once, and the row is read from memory exactly once.
template <int kQuads, typename Out>
__global__ void __launch_bounds__(1024)
    rms_norm_vec_kernel(const float4* __restrict__ x, const float4* __restrict__ weight,
                        Out* __restrict__ y, int quads, float eps) {
  __shared__ float scratch[32];
  const int64_t offset = int64_t(blockIdx.x) * quads;
  float4 v[kQuads];
  float sum_sq = 0.0f;
#pragma unroll
  for (int k = 0; k < kQuads; ++k) {
    const int i = int(threadIdx.x) + k * int(blockDim.x);
    if (i >= quads) continue;
    v[k] = x[offset + i];
    sum_sq += v[k].x * v[k].x + v[k].y * v[k].y + v[k].z * v[k].z + v[k].w * v[k].w;
  }
  const float inv_rms = 1.0f / sqrtf(block_sum(sum_sq, scratch) / float(4 * quads) + eps);
#pragma unroll
  for (int k = 0; k < kQuads; ++k) {
    const int i = int(threadIdx.x) + k * int(blockDim.x);
    if (i >= quads) continue;
    const float4 w = weight[i];
    store4(y + 4 * (offset + i), make_float4(w.x * (v[k].x * inv_rms), w.y * (v[k].y * inv_rms),
                                             w.z * (v[k].z * inv_rms), w.w * (v[k].w * inv_rms)));
  }
}

template <typename Out>
void launch_rms_norm(const float* x, const float* weight, Out* y, int64_t rows, int d, float eps) {
  const int quads = d / 4;
  // 16-byte rows of x and weight; the output rows need 16 (f32) or 8 bytes (half).
  if (d % 4 == 0 && quads <= 4 * 1024 && aligned16(x, weight) &&
      reinterpret_cast<uintptr_t>(y) % (4 * sizeof(Out)) == 0) {
    const int per_thread = (quads + 1023) / 1024;
    const int threads = ((quads + per_thread - 1) / per_thread + 31) / 32 * 32;
    const auto* x4 = reinterpret_cast<const float4*>(x);
    const auto* w4 = reinterpret_cast<const float4*>(weight);
    if (per_thread == 1)
      rms_norm_vec_kernel<1, Out><<<unsigned(rows), threads>>>(x4, w4, y, quads, eps);
    else if (per_thread == 2)
      rms_norm_vec_kernel<2, Out><<<unsigned(rows), threads>>>(x4, w4, y, quads, eps);
    else
      rms_norm_vec_kernel<4, Out><<<unsigned(rows), threads>>>(x4, w4, y, quads, eps);
    return;
  }
  rms_norm_kernel<Out>
      <<<unsigned(rows), kThreads>>>(x, weight, y, d, eps, d % 4 == 0 && aligned16(x));
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

cudaError_t rms_norm(const float* x, const float* weight, void* y, FloatType out, int64_t rows,
                     int d, float eps) {
  if (rows == 0) return cudaSuccess;
  if (out == FloatType::kF32)
    launch_rms_norm(x, weight, static_cast<float*>(y), rows, d, eps);
  else if (out == FloatType::kBF16)
    launch_rms_norm(x, weight, static_cast<__nv_bfloat16*>(y), rows, d, eps);
  else
    launch_rms_norm(x, weight, static_cast<__half*>(y), rows, d, eps);
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
