// One block per row: each thread scans a strided slice keeping (max, first index), then a block
// reduction. Reads 4·vocab bytes per row; a NaN anywhere marks the row (-1).
#include "ops/argmax_kernels_cuda.h"
#include "ops/common_cuda.cuh"

namespace glimpse::ops::cuda_kernels {
namespace {

constexpr int kThreads = 1024;

// (value, index) pairs: the larger value wins, equal values go to the lower index.
__device__ inline bool better(float v, int i, float best_v, int best_i) {
  return v > best_v || (v == best_v && i < best_i);
}

__global__ void argmax_rows_kernel(const float* __restrict__ logits, int64_t vocab,
                                   int32_t* __restrict__ out) {
  __shared__ float values[32];
  __shared__ int indices[32];
  __shared__ int nan_seen;
  if (threadIdx.x == 0) nan_seen = 0;
  __syncthreads();
  const float* row = logits + int64_t(blockIdx.x) * vocab;
  float best_v = -INFINITY;
  int best_i = int(vocab);  // past the end: loses to any real element
  bool nan = false;
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float v = row[i];
    nan |= isnan(v);
    if (better(v, int(i), best_v, best_i)) best_v = v, best_i = int(i);
  }
  if (nan) nan_seen = 1;
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float v = __shfl_down_sync(0xffffffffu, best_v, offset);
    const int i = __shfl_down_sync(0xffffffffu, best_i, offset);
    if (better(v, i, best_v, best_i)) best_v = v, best_i = i;
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) values[warp] = best_v, indices[warp] = best_i;
  __syncthreads();
  if (warp == 0) {
    const int warps = int(blockDim.x + 31) / 32;
    best_v = lane < warps ? values[lane] : -INFINITY;
    best_i = lane < warps ? indices[lane] : int(vocab);
    for (int offset = 16; offset > 0; offset >>= 1) {
      const float v = __shfl_down_sync(0xffffffffu, best_v, offset);
      const int i = __shfl_down_sync(0xffffffffu, best_i, offset);
      if (better(v, i, best_v, best_i)) best_v = v, best_i = i;
    }
    // Every value -inf leaves no winner: index 0, as the CPU scan.
    if (lane == 0) out[blockIdx.x] = nan_seen ? -1 : (best_i < vocab ? best_i : 0);
  }
}

}  // namespace

cudaError_t argmax_rows(const float* logits, int64_t rows, int64_t vocab, int32_t* out) {
  if (rows == 0) return cudaSuccess;
  argmax_rows_kernel<<<unsigned(rows), kThreads>>>(logits, vocab, out);
  return cudaGetLastError();
}

}  // namespace glimpse::ops::cuda_kernels
