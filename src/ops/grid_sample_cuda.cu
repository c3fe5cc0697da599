// Bicubic grid_sample: a block row per point (blockIdx.x) and a thread per channel, so a warp reads
// 32 consecutive channels of each of the 16 taps (coalesced); 16 multiply-adds and 64 B of
// (mostly cached) map per output. Each thread recomputes its point's weights: cheaper than sharing.
#include "ops/common_cuda.cuh"
#include "ops/kernels_cuda.h"

namespace glimpse::ops::cuda_kernels {
namespace {

constexpr int kThreads = 256;

// Keys' cubic convolution weights with torch's A = -0.75, as the CPU op.
__device__ inline void cubic_weights(float t, float w[4]) {
  constexpr float A = -0.75f;
  auto near = [](float x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };       // |x| <= 1
  auto far = [](float x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };  // 1 < |x| < 2
  w[0] = far(t + 1);
  w[1] = near(t);
  w[2] = near(1 - t);
  w[3] = far(2 - t);
}

__device__ inline int64_t clamp_index(int64_t i, int64_t size) {
  return i < 0 ? 0 : (i >= size ? size - 1 : i);
}

__global__ void bicubic_kernel(const float* __restrict__ map, int64_t height, int64_t width,
                               int64_t channels, const float* __restrict__ points,
                               float* __restrict__ out) {
  const int64_t p = blockIdx.x, c = int64_t(blockIdx.y) * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  // align_corners=False: -1 → -0.5 and 1 → size - 0.5, cell centres at integers.
  const float ix = ((points[2 * p] + 1) * float(width) - 1) / 2;
  const float iy = ((points[2 * p + 1] + 1) * float(height) - 1) / 2;
  const float x0 = floorf(ix), y0 = floorf(iy);
  float wx[4], wy[4];
  cubic_weights(ix - x0, wx);
  cubic_weights(iy - y0, wy);
  float sum = 0.0f;
#pragma unroll
  for (int dy = 0; dy < 4; ++dy) {
    const int64_t y = clamp_index(int64_t(y0) - 1 + dy, height);  // border padding
#pragma unroll
    for (int dx = 0; dx < 4; ++dx) {
      const int64_t x = clamp_index(int64_t(x0) - 1 + dx, width);
      sum += wy[dy] * wx[dx] * map[(y * width + x) * channels + c];
    }
  }
  out[p * channels + c] = sum;
}

}  // namespace

cudaError_t bicubic_grid_sample(const float* map, int64_t height, int64_t width, int64_t channels,
                                const float* points, int64_t n, float* out) {
  if (n * channels == 0) return cudaSuccess;
  const int threads = channels < kThreads ? int((channels + 31) / 32 * 32) : kThreads;
  const dim3 grid(unsigned(n), unsigned((channels + threads - 1) / threads));
  bicubic_kernel<<<grid, threads>>>(map, height, width, channels, points, out);
  return cudaGetLastError();
}

}  // namespace glimpse::ops::cuda_kernels
