// The decode side of linear: y = x·Wᵀ (+ b) (or y += x·Wᵀ) for at most kMatvecMaxRows input rows,
// memory-bound on the weight (out·in elements read once, rows·in·4 B of x re-read from cache by
// every warp, so 2·rows FLOPs per weight element). A warp owns R weight rows (matvec_shape),
// 16-byte weight loads, f32 products of the upcast weights (as the CPU op). The gated variant
// (gated_linear) gives a warp the gate row and the up row of its features and writes
// act(gate)·up: the MLP's activation without a launch or a pass of its own. Prefill goes to
// cuBLASLt (linear_cuda.cc).
#include <cstdio>
#include <cstdlib>

#include "ops/activation_cuda.cuh"
#include "ops/common_cuda.cuh"
#include "ops/half_cuda.cuh"
#include "ops/kernels_cuda.h"

namespace glimpse::ops::cuda_kernels {
namespace {

constexpr int kMaxWarps = 8;  // per block

// What a warp computes. Plain: output features [R·w, R·w + R), weight rows the same. Gated
// (R even): features [R/2·w, R/2·w + R/2) of n, reading weight rows f (gate) and n + f (up).
struct MatvecArgs {
  const float* x;
  int rows;
  const void* weight;
  int64_t out_features, in_features;  // of y; the gated weight has 2·out_features rows
  const float* bias;                  // plain only
  float* y;
  bool vec, accumulate;
  ActivationKind act;  // gated only
};

// Warp w's R rows: each x chunk it loads serves all of them. With one row per warp every warp
// re-read all of x from L1/L2 (twice the weight's bytes, in f32).
template <typename W, int R, bool kGated>
__global__ void __launch_bounds__(kMaxWarps * 32) matvec_kernel(const MatvecArgs a) {
  constexpr int kFeatures = kGated ? R / 2 : R;
  const W* __restrict__ weight = static_cast<const W*>(a.weight);
  const float* __restrict__ x = a.x;
  const int64_t in_features = a.in_features;
  const int lane = threadIdx.x & 31;
  const int64_t f0 = (int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5)) * kFeatures;
  if (f0 >= a.out_features) return;
  const int here = a.out_features - f0 < kFeatures ? int(a.out_features - f0) : kFeatures;
  // Weight row of slot j, and whether its feature exists.
  int64_t row_of[R];
  bool valid[R];
#pragma unroll
  for (int j = 0; j < R; ++j) {
    const int feature = kGated ? j % kFeatures : j;
    valid[j] = feature < here;
    row_of[j] = (kGated && j >= kFeatures ? a.out_features : 0) + f0 + feature;
  }
  float acc[kMatvecMaxRows][R];
#pragma unroll
  for (int r = 0; r < kMatvecMaxRows; ++r)
#pragma unroll
    for (int j = 0; j < R; ++j) acc[r][j] = 0.0f;
  if (a.vec) {  // in_features % 8 == 0, rows 16-byte aligned
#pragma unroll 2
    for (int64_t i = lane * 8; i < in_features; i += 32 * 8) {
      float w[R][8];
#pragma unroll
      for (int j = 0; j < R; ++j) {
        if (valid[j]) {
          load8(weight + row_of[j] * in_features + i, w[j]);
        } else {
#pragma unroll
          for (int e = 0; e < 8; ++e) w[j][e] = 0.0f;
        }
      }
#pragma unroll
      for (int r = 0; r < kMatvecMaxRows; ++r) {
        if (r >= a.rows) break;
        const float4* xr = reinterpret_cast<const float4*>(x + r * in_features + i);
        const float4 p = xr[0], q = xr[1];
#pragma unroll
        for (int j = 0; j < R; ++j)
          acc[r][j] += w[j][0] * p.x + w[j][1] * p.y + w[j][2] * p.z + w[j][3] * p.w +
                       w[j][4] * q.x + w[j][5] * q.y + w[j][6] * q.z + w[j][7] * q.w;
      }
    }
  } else {
    for (int64_t i = lane; i < in_features; i += 32) {
      float w[R];
#pragma unroll
      for (int j = 0; j < R; ++j)
        w[j] = valid[j] ? to_f32(weight[row_of[j] * in_features + i]) : 0.0f;
#pragma unroll
      for (int r = 0; r < kMatvecMaxRows; ++r) {
        if (r >= a.rows) break;
        const float xv = x[r * in_features + i];
#pragma unroll
        for (int j = 0; j < R; ++j) acc[r][j] += w[j] * xv;
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kMatvecMaxRows; ++r) {
    if (r >= a.rows) break;
    float sum[R];
#pragma unroll
    for (int j = 0; j < R; ++j) sum[j] = warp_sum(acc[r][j]);
    if (lane != 0) continue;
#pragma unroll
    for (int j = 0; j < kFeatures; ++j) {
      if (j >= here) break;
      float* out = a.y + r * a.out_features + f0 + j;
      if constexpr (kGated) {
        // Rounded as the plain ops: act(gate) first, then the product.
        *out = apply_activation(a.act, sum[j]) * sum[j + kFeatures];
      } else {
        const float value = sum[j] + (a.bias ? a.bias[f0 + j] : 0.0f);
        *out = a.accumulate ? *out + value : value;
      }
    }
  }
}

// Weight rows per warp and warps per block. Measured on the H100 (tools/device/matvec_sweep.sh,
// µs per GLM-4.6V matrix, 2026-11-25): one row per warp and 8 warps was fastest for the matrices
// of ≤ 4,608 rows (q/k/v 18.7, o 17.5, down 47.1: the x chunk is shared by few rows, and more
// warps keep more loads in flight), two rows and 4 warps for the long ones (gate_up 80.7, lm_head
// 403.4). GLIMPSE_MATVEC="R,W" (R in 1, 2, 4, 8; W in 1..8), read once, forces one shape for the
// plain kernel (the sweep). Every row is summed by one warp in the same order whatever the shape.
struct MatvecShape {
  int rows_per_warp, warps;
};
MatvecShape matvec_shape(int64_t weight_rows) {
  static const MatvecShape forced = [] {
    MatvecShape s{0, 0};
    int r = 0, w = 0;
    if (const char* value = std::getenv("GLIMPSE_MATVEC");
        value && std::sscanf(value, "%d,%d", &r, &w) == 2 &&
        (r == 1 || r == 2 || r == 4 || r == 8) && w >= 1 && w <= kMaxWarps)
      s = {r, w};
    return s;
  }();
  if (forced.rows_per_warp) return forced;
  return weight_rows >= 16384 ? MatvecShape{2, 4} : MatvecShape{1, 8};
}

template <typename W, int R, bool kGated>
void launch_shape(const MatvecArgs& a, int warps) {
  const int64_t per_block = int64_t(warps) * (kGated ? R / 2 : R);
  matvec_kernel<W, R, kGated>
      <<<unsigned((a.out_features + per_block - 1) / per_block), warps * 32>>>(a);
}

template <typename W>
void launch_plain(MatvecArgs a) {
  a.vec = a.in_features % 8 == 0 && aligned16(a.x, static_cast<const W*>(a.weight));
  const MatvecShape shape = matvec_shape(a.out_features);
  switch (a.vec ? shape.rows_per_warp : 1) {
    case 1:
      return launch_shape<W, 1, false>(a, shape.warps);
    case 2:
      return launch_shape<W, 2, false>(a, shape.warps);
    case 4:
      return launch_shape<W, 4, false>(a, shape.warps);
    default:
      return launch_shape<W, 8, false>(a, shape.warps);
  }
}

// A gate row and its up row per warp: the long matrices' shape (gate_up has 2·n rows).
template <typename W>
void launch_gated(MatvecArgs a) {
  a.vec = a.in_features % 8 == 0 && aligned16(a.x, static_cast<const W*>(a.weight));
  launch_shape<W, 2, true>(a, 4);
}

template <template <typename> class Launch>
cudaError_t by_type(const MatvecArgs& a, FloatType type) {
  switch (type) {
    case FloatType::kF32:
      Launch<float>::run(a);
      break;
    case FloatType::kBF16:
      Launch<__nv_bfloat16>::run(a);
      break;
    case FloatType::kF16:
      Launch<__half>::run(a);
      break;
  }
  return cudaGetLastError();
}
template <typename W>
struct Plain {
  static void run(const MatvecArgs& a) { launch_plain<W>(a); }
};
template <typename W>
struct Gated {
  static void run(const MatvecArgs& a) { launch_gated<W>(a); }
};

}  // namespace

cudaError_t matvec(const float* x, int64_t rows, const void* weight, FloatType type,
                   int64_t out_features, int64_t in_features, const float* bias, float* y,
                   bool accumulate) {
  if (rows == 0 || out_features == 0) return cudaSuccess;
  if (rows > kMatvecMaxRows) return cudaErrorInvalidValue;
  const MatvecArgs a{x, int(rows), weight, out_features, in_features, bias, y, false, accumulate,
                     ActivationKind::kSilu};
  return by_type<Plain>(a, type);
}

cudaError_t gated_matvec(const float* x, int64_t rows, const void* weight, FloatType type,
                         int64_t n, int64_t in_features, ActivationKind act, float* y) {
  if (rows == 0 || n == 0) return cudaSuccess;
  if (rows > kMatvecMaxRows) return cudaErrorInvalidValue;
  const MatvecArgs a{x, int(rows), weight, n, in_features, nullptr, y, false, false, act};
  return by_type<Gated>(a, type);
}

}  // namespace glimpse::ops::cuda_kernels
