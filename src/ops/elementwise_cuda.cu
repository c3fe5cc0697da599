// Element-wise kernels: grid-stride loops with 16-byte accesses where the sizes allow.
// add: reads 8 B, writes 4 B per element; activation: 4 + 4; gated: 2 + 1 elements per output, in
// the input's and the output's dtype (f32 or half).
#include "ops/activation_cuda.cuh"
#include "ops/common_cuda.cuh"
#include "ops/half_cuda.cuh"
#include "ops/kernels_cuda.h"

namespace glimpse::ops::cuda_kernels {
namespace {

constexpr int kThreads = 256;

__device__ inline float apply(ActivationKind act, float v) {
  return apply_activation(act, v);
}

__device__ inline float4 apply4(ActivationKind act, float4 v) {
  return make_float4(apply(act, v.x), apply(act, v.y), apply(act, v.z), apply(act, v.w));
}

__global__ void add_kernel(float* __restrict__ x, const float* __restrict__ y, int64_t n,
                           bool vec) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (vec) {
    float4* x4 = reinterpret_cast<float4*>(x);
    const float4* y4 = reinterpret_cast<const float4*>(y);
    for (int64_t i = first; i < n / 4; i += stride) {
      const float4 a = x4[i], b = y4[i];
      x4[i] = make_float4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w);
    }
  } else {
    for (int64_t i = first; i < n; i += stride) x[i] += y[i];
  }
}

__global__ void activation_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n,
                                  ActivationKind act, bool vec) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (vec) {
    for (int64_t i = first; i < n / 4; i += stride)
      reinterpret_cast<float4*>(y)[i] = apply4(act, reinterpret_cast<const float4*>(x)[i]);
  } else {
    for (int64_t i = first; i < n; i += stride) y[i] = apply(act, x[i]);
  }
}

// With `vec`, n % 8 == 0 and each index below counts groups of 8 columns.
template <typename In, typename Out>
__global__ void gated_kernel(const In* __restrict__ gate_up, Out* __restrict__ y, int64_t rows,
                             int64_t n, ActivationKind act, bool vec) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (vec) {
    const int64_t groups = n / 8;
    for (int64_t i = first; i < rows * groups; i += stride) {
      const int64_t r = i / groups, c = i % groups;
      float gate[8], up[8];
      load8(gate_up + (r * 2 * groups + c) * 8, gate);
      load8(gate_up + (r * 2 * groups + groups + c) * 8, up);
#pragma unroll
      for (int e = 0; e < 8; ++e) gate[e] = apply(act, gate[e]) * up[e];
      store8(y + i * 8, gate);
    }
  } else {
    for (int64_t i = first; i < rows * n; i += stride) {
      const int64_t r = i / n, c = i % n;
      y[i] = from_f32<Out>(apply(act, to_f32(gate_up[r * 2 * n + c])) *
                           to_f32(gate_up[r * 2 * n + n + c]));
    }
  }
}

template <typename In, typename Out>
void launch_gated(const void* gate_up, void* y, int64_t rows, int64_t n, ActivationKind act) {
  const bool vec = n % 8 == 0 && aligned16(gate_up, y);
  gated_kernel<<<grid_for(vec ? rows * n / 8 : rows * n, kThreads), kThreads>>>(
      static_cast<const In*>(gate_up), static_cast<Out*>(y), rows, n, act, vec);
}

template <typename In>
void launch_gated_to(const void* gate_up, void* y, FloatType out, int64_t rows, int64_t n,
                     ActivationKind act) {
  if (out == FloatType::kF32)
    launch_gated<In, float>(gate_up, y, rows, n, act);
  else if (out == FloatType::kBF16)
    launch_gated<In, __nv_bfloat16>(gate_up, y, rows, n, act);
  else
    launch_gated<In, __half>(gate_up, y, rows, n, act);
}

}  // namespace

cudaError_t add_inplace(float* x, const float* y, int64_t n) {
  if (n == 0) return cudaSuccess;
  const bool vec = n % 4 == 0 && aligned16(x, y);
  add_kernel<<<grid_for(vec ? n / 4 : n, kThreads), kThreads>>>(x, y, n, vec);
  return cudaGetLastError();
}

cudaError_t activation(const float* x, float* y, int64_t n, ActivationKind act) {
  if (n == 0) return cudaSuccess;
  const bool vec = n % 4 == 0 && aligned16(x, y);
  activation_kernel<<<grid_for(vec ? n / 4 : n, kThreads), kThreads>>>(x, y, n, act, vec);
  return cudaGetLastError();
}

cudaError_t gated_activation(const void* gate_up, FloatType in, void* y, FloatType out,
                             int64_t rows, int64_t n, ActivationKind act) {
  if (rows * n == 0) return cudaSuccess;
  if (in == FloatType::kF32)
    launch_gated_to<float>(gate_up, y, out, rows, n, act);
  else if (in == FloatType::kBF16)
    launch_gated_to<__nv_bfloat16>(gate_up, y, out, rows, n, act);
  else
    launch_gated_to<__half>(gate_up, y, out, rows, n, act);
  return cudaGetLastError();
}

}  // namespace glimpse::ops::cuda_kernels
