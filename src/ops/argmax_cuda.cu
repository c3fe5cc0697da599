// Row argmax in two passes: a row of V logits is cut into ceil(V / kSliceValues) slices, one
// 256-thread block each (every thread keeps (max, first index) over 4 values, then the block
// reduces); one warp per row then merges the slices. A decode step's 151,552 logits are 148
// blocks over all SMs instead of one block walking 606 KB alone (≈ 100 µs, latency bound).
// Reads 4·V bytes per row; a NaN anywhere marks the row (-1).
#include "ops/argmax_kernels_cuda.h"
#include "ops/common_cuda.cuh"

namespace glimpse::ops::cuda_kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kNanIndex = -2;  // a slice's index when it holds NaN

// (value, index) pairs: the larger value wins, equal values go to the lower index.
__device__ inline bool better(float v, int i, float best_v, int best_i) {
  return v > best_v || (v == best_v && i < best_i);
}

__device__ inline void warp_best(float& best_v, int& best_i) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float v = __shfl_down_sync(0xffffffffu, best_v, offset);
    const int i = __shfl_down_sync(0xffffffffu, best_i, offset);
    if (better(v, i, best_v, best_i)) best_v = v, best_i = i;
  }
}

__global__ void __launch_bounds__(kThreads)
    argmax_slices_kernel(const float* __restrict__ logits, int64_t vocab,
                         float* __restrict__ slice_values, int* __restrict__ slice_indices) {
  __shared__ float values[kThreads / 32];
  __shared__ int indices[kThreads / 32];
  const int slice = int(blockIdx.x), slices = int(gridDim.x);
  const float* row = logits + int64_t(blockIdx.y) * vocab;
  const int64_t begin = int64_t(slice) * kArgmaxSliceValues;
  const int64_t end = begin + kArgmaxSliceValues < vocab ? begin + kArgmaxSliceValues : vocab;
  float best_v = -INFINITY;
  int best_i = int(vocab);  // past the end: loses to any real element
  bool nan = false;
#pragma unroll
  for (int k = 0; k < kArgmaxSliceValues / kThreads; ++k) {
    const int64_t i = begin + k * kThreads + threadIdx.x;
    if (i < end) {
      const float v = row[i];
      nan |= isnan(v);
      if (better(v, int(i), best_v, best_i)) best_v = v, best_i = int(i);
    }
  }
  nan = __syncthreads_or(nan);
  warp_best(best_v, best_i);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) values[warp] = best_v, indices[warp] = best_i;
  __syncthreads();
  if (warp != 0) return;
  best_v = lane < kThreads / 32 ? values[lane] : -INFINITY;
  best_i = lane < kThreads / 32 ? indices[lane] : int(vocab);
  warp_best(best_v, best_i);
  if (lane == 0) {
    const int64_t at = int64_t(blockIdx.y) * slices + slice;
    slice_values[at] = best_v;
    slice_indices[at] = nan ? kNanIndex : best_i;
  }
}

// One warp per row over its slices.
__global__ void argmax_merge_kernel(const float* __restrict__ slice_values,
                                    const int* __restrict__ slice_indices, int slices,
                                    int64_t vocab, int32_t* __restrict__ out) {
  const int lane = threadIdx.x;
  const int64_t first = int64_t(blockIdx.x) * slices;
  float best_v = -INFINITY;
  int best_i = int(vocab);
  bool nan = false;
  for (int s = lane; s < slices; s += 32) {
    const int i = slice_indices[first + s];
    nan |= i == kNanIndex;
    if (i != kNanIndex && better(slice_values[first + s], i, best_v, best_i))
      best_v = slice_values[first + s], best_i = i;
  }
  nan = __any_sync(0xffffffffu, nan);
  warp_best(best_v, best_i);
  // Every value -inf leaves no winner: index 0, as the CPU scan.
  if (lane == 0) out[blockIdx.x] = nan ? -1 : (best_i < vocab ? best_i : 0);
}

}  // namespace

int64_t argmax_slices(int64_t vocab) {
  return (vocab + kArgmaxSliceValues - 1) / kArgmaxSliceValues;
}

cudaError_t argmax_rows(const float* logits, int64_t rows, int64_t vocab, float* slice_values,
                        int* slice_indices, int32_t* out) {
  if (rows == 0) return cudaSuccess;
  const int64_t slices = argmax_slices(vocab);
  if (slices > 65535 || rows > 65535 || vocab > INT32_MAX) return cudaErrorInvalidValue;
  argmax_slices_kernel<<<dim3(unsigned(slices), unsigned(rows)), kThreads>>>(
      logits, vocab, slice_values, slice_indices);
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) return status;
  argmax_merge_kernel<<<unsigned(rows), 32>>>(slice_values, slice_indices, int(slices), vocab, out);
  return cudaGetLastError();
}

}  // namespace glimpse::ops::cuda_kernels
