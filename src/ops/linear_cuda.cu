// The decode side of linear: y = x·Wᵀ (+ b) for at most kMatvecMaxRows input rows, memory-bound on
// the weight (out·in elements read once, rows·in·4 B of x re-read from cache by every warp, so
// 2·rows FLOPs per weight element). One warp per two output features (matvec_shape), 16-byte
// weight loads, f32 products of the upcast weights (as the CPU op). Prefill goes to cuBLASLt
// (linear_cuda.cc).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdio>
#include <cstdlib>

#include "ops/common_cuda.cuh"
#include "ops/kernels_cuda.h"

namespace glimpse::ops::cuda_kernels {
namespace {

constexpr int kMaxWarps = 8;  // per block

__device__ inline float to_f32(float w) {
  return w;
}
__device__ inline float to_f32(__nv_bfloat16 w) {
  return __bfloat162float(w);
}
__device__ inline float to_f32(__half w) {
  return __half2float(w);
}

// Eight consecutive weights (16-byte aligned) as f32.
__device__ inline void load8(const float* w, float out[8]) {
  const float4 a = reinterpret_cast<const float4*>(w)[0], b = reinterpret_cast<const float4*>(w)[1];
  out[0] = a.x, out[1] = a.y, out[2] = a.z, out[3] = a.w;
  out[4] = b.x, out[5] = b.y, out[6] = b.z, out[7] = b.w;
}
__device__ inline void load8(const __nv_bfloat16* w, float out[8]) {
  const uint4 raw = *reinterpret_cast<const uint4*>(w);
  const __nv_bfloat162* pairs = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float2 f = __bfloat1622float2(pairs[j]);
    out[2 * j] = f.x, out[2 * j + 1] = f.y;
  }
}
__device__ inline void load8(const __half* w, float out[8]) {
  const uint4 raw = *reinterpret_cast<const uint4*>(w);
  const __half2* pairs = reinterpret_cast<const __half2*>(&raw);
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float2 f = __half22float2(pairs[j]);
    out[2 * j] = f.x, out[2 * j + 1] = f.y;
  }
}

// Warp w computes output features [R·w, R·w + R): each x chunk it loads serves R weight rows. With
// one feature per warp every warp re-read all of x from L1/L2 (twice the weight's bytes, in f32).
template <typename W, int R>
__global__ void __launch_bounds__(kMaxWarps * 32)
    matvec_kernel(const float* __restrict__ x, int rows, const W* __restrict__ weight,
                  int64_t out_features, int64_t in_features, const float* __restrict__ bias,
                  float* __restrict__ y, bool vec) {
  const int lane = threadIdx.x & 31;
  const int64_t o0 = (int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5)) * R;
  if (o0 >= out_features) return;
  const int here = out_features - o0 < R ? int(out_features - o0) : R;  // features of this warp
  float acc[kMatvecMaxRows][R];
#pragma unroll
  for (int r = 0; r < kMatvecMaxRows; ++r)
#pragma unroll
    for (int j = 0; j < R; ++j) acc[r][j] = 0.0f;
  if (vec) {  // in_features % 8 == 0, rows 16-byte aligned
#pragma unroll 2
    for (int64_t i = lane * 8; i < in_features; i += 32 * 8) {
      float w[R][8];
#pragma unroll
      for (int j = 0; j < R; ++j) {
        if (j < here) {
          load8(weight + (o0 + j) * in_features + i, w[j]);
        } else {
#pragma unroll
          for (int e = 0; e < 8; ++e) w[j][e] = 0.0f;
        }
      }
#pragma unroll
      for (int r = 0; r < kMatvecMaxRows; ++r) {
        if (r >= rows) break;
        const float4* xr = reinterpret_cast<const float4*>(x + r * in_features + i);
        const float4 a = xr[0], b = xr[1];
#pragma unroll
        for (int j = 0; j < R; ++j)
          acc[r][j] += w[j][0] * a.x + w[j][1] * a.y + w[j][2] * a.z + w[j][3] * a.w +
                       w[j][4] * b.x + w[j][5] * b.y + w[j][6] * b.z + w[j][7] * b.w;
      }
    }
  } else {
    for (int64_t i = lane; i < in_features; i += 32) {
      float w[R];
#pragma unroll
      for (int j = 0; j < R; ++j) w[j] = j < here ? to_f32(weight[(o0 + j) * in_features + i]) : 0.0f;
#pragma unroll
      for (int r = 0; r < kMatvecMaxRows; ++r) {
        if (r >= rows) break;
        const float xv = x[r * in_features + i];
#pragma unroll
        for (int j = 0; j < R; ++j) acc[r][j] += w[j] * xv;
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kMatvecMaxRows; ++r) {
    if (r >= rows) break;
#pragma unroll
    for (int j = 0; j < R; ++j) {
      const float sum = warp_sum(acc[r][j]);
      if (lane == 0 && j < here) y[r * out_features + o0 + j] = sum + (bias ? bias[o0 + j] : 0.0f);
    }
  }
}

__device__ inline void round_to(float v, __nv_bfloat16* dst) {
  *dst = __float2bfloat16_rn(v);
}
__device__ inline void round_to(float v, __half* dst) {
  *dst = __float2half_rn(v);
}

// Reads 4 B, writes 2 B per element.
template <typename H>
__global__ void to_half_kernel(const float* __restrict__ src, H* __restrict__ dst, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    round_to(src[i], dst + i);
}

// Output features per warp and warps per block: 2 and 4 unless GLIMPSE_MATVEC="R,W" says otherwise
// (R in 1, 2, 4, 8; W in 1..8), read once. tools/device/matvec_sweep.sh times the choices; on the
// H100 2,4 was fastest over a decoder layer's four matvecs and the lm_head (570 µs; 4,8: 580; 8,x:
// 680-690) and took decode from 7.83 to 7.60 ms/token. Every row is summed by one warp in the same
// order whatever the shape; the op and golden tests passed under 2,4 on the H100.
struct MatvecShape {
  int features_per_warp = 2, warps = 4;
};
MatvecShape matvec_shape() {
  static const MatvecShape shape = [] {
    MatvecShape s;
    int r = 0, w = 0;
    if (const char* value = std::getenv("GLIMPSE_MATVEC");
        value && std::sscanf(value, "%d,%d", &r, &w) == 2 && (r == 1 || r == 2 || r == 4 || r == 8) &&
        w >= 1 && w <= kMaxWarps)
      s = {r, w};
    return s;
  }();
  return shape;
}

template <typename W, int R>
void launch_matvec_rows(const float* x, int64_t rows, const W* w, int64_t out_features,
                        int64_t in_features, const float* bias, float* y, bool vec, int warps) {
  const int64_t per_block = int64_t(warps) * R;
  matvec_kernel<W, R><<<unsigned((out_features + per_block - 1) / per_block), warps * 32>>>(
      x, int(rows), w, out_features, in_features, bias, y, vec);
}

template <typename W>
void launch_matvec(const float* x, int64_t rows, const void* weight, int64_t out_features,
                   int64_t in_features, const float* bias, float* y) {
  const W* w = static_cast<const W*>(weight);
  const bool vec = in_features % 8 == 0 && aligned16(x, w);
  const MatvecShape shape = matvec_shape();
  switch (vec ? shape.features_per_warp : 1) {
    case 1:
      return launch_matvec_rows<W, 1>(x, rows, w, out_features, in_features, bias, y, vec, shape.warps);
    case 2:
      return launch_matvec_rows<W, 2>(x, rows, w, out_features, in_features, bias, y, vec, shape.warps);
    case 4:
      return launch_matvec_rows<W, 4>(x, rows, w, out_features, in_features, bias, y, vec, shape.warps);
    default:
      return launch_matvec_rows<W, 8>(x, rows, w, out_features, in_features, bias, y, vec, shape.warps);
  }
}

}  // namespace

cudaError_t matvec(const float* x, int64_t rows, const void* weight, WeightType type,
                   int64_t out_features, int64_t in_features, const float* bias, float* y) {
  if (rows == 0 || out_features == 0) return cudaSuccess;
  if (rows > kMatvecMaxRows) return cudaErrorInvalidValue;
  switch (type) {
    case WeightType::kF32:
      launch_matvec<float>(x, rows, weight, out_features, in_features, bias, y);
      break;
    case WeightType::kBF16:
      launch_matvec<__nv_bfloat16>(x, rows, weight, out_features, in_features, bias, y);
      break;
    case WeightType::kF16:
      launch_matvec<__half>(x, rows, weight, out_features, in_features, bias, y);
      break;
  }
  return cudaGetLastError();
}

cudaError_t f32_to_half(const float* src, void* dst, WeightType type, int64_t n) {
  if (n == 0) return cudaSuccess;
  constexpr int kThreads = 256;
  if (type == WeightType::kBF16)
    to_half_kernel<<<grid_for(n, kThreads), kThreads>>>(src, static_cast<__nv_bfloat16*>(dst), n);
  else if (type == WeightType::kF16)
    to_half_kernel<<<grid_for(n, kThreads), kThreads>>>(src, static_cast<__half*>(dst), n);
  else
    return cudaErrorInvalidValue;
  return cudaGetLastError();
}

}  // namespace glimpse::ops::cuda_kernels
