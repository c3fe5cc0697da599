// Rotary embedding in place: one thread per (token, head, pair); reads and writes 2 floats and
// reads the pair's cos and sin (shared by every head of the token, so they come from cache).
#include "ops/common_cuda.cuh"
#include "ops/kernels_cuda.h"

namespace glimpse::ops::cuda_kernels {
namespace {

constexpr int kThreads = 256;

__global__ void rotary_kernel(float* __restrict__ x, const float* __restrict__ cos,
                              const float* __restrict__ sin, int64_t tokens, int heads,
                              int head_dim, int pairs, int first_step, int second_offset) {
  const int64_t total = tokens * heads * pairs;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int pair = int(i % pairs);
    const int64_t token_head = i / pairs, token = token_head / heads;
    float* v = x + token_head * head_dim;
    const float c = cos[token * pairs + pair], s = sin[token * pairs + pair];
    const float a = v[pair * first_step], b = v[pair * first_step + second_offset];
    v[pair * first_step] = a * c - b * s;
    v[pair * first_step + second_offset] = b * c + a * s;
  }
}

// One thread per (token, pair): sincosf of float(position) · frequency, as the reference in f32.
__global__ void rotary_tables_kernel(const int64_t* __restrict__ positions,
                                     const int32_t* __restrict__ pair_axis,
                                     const float* __restrict__ inv_freq, float* __restrict__ cos,
                                     float* __restrict__ sin, int64_t n, int pairs) {
  const int64_t total = n * pairs;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int pair = int(i % pairs);
    const int64_t token = i / pairs;
    const float angle = float(positions[pair_axis[pair] * n + token]) * inv_freq[pair];
    sincosf(angle, sin + i, cos + i);
  }
}

}  // namespace

cudaError_t rotary_tables(const int64_t* positions, const int32_t* pair_axis,
                          const float* inv_freq, float* cos, float* sin, int64_t n, int pairs) {
  const int64_t total = n * pairs;
  if (total == 0) return cudaSuccess;
  rotary_tables_kernel<<<grid_for(total, kThreads), kThreads>>>(positions, pair_axis, inv_freq,
                                                                cos, sin, n, pairs);
  return cudaGetLastError();
}

cudaError_t rotary(float* x, const float* cos, const float* sin, int64_t tokens, int heads,
                   int head_dim, int pairs, int first_step, int second_offset) {
  const int64_t total = tokens * heads * pairs;
  if (total == 0) return cudaSuccess;
  rotary_kernel<<<grid_for(total, kThreads), kThreads>>>(x, cos, sin, tokens, heads, head_dim,
                                                         pairs, first_step, second_offset);
  return cudaGetLastError();
}

}  // namespace glimpse::ops::cuda_kernels
