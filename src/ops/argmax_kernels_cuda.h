// Launcher of argmax_cuda.cu; see kernels_cuda.h for the conventions.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace glimpse::ops::cuda_kernels {

// out[r] = first index of the maximum of row r of logits [rows, vocab], or -1 if it holds NaN.
// slice_values / slice_indices: rows · argmax_slices(vocab) entries of scratch on the device.
constexpr int kArgmaxSliceValues = 1024;
int64_t argmax_slices(int64_t vocab);
cudaError_t argmax_rows(const float* logits, int64_t rows, int64_t vocab, float* slice_values,
                        int* slice_indices, int32_t* out);

}  // namespace glimpse::ops::cuda_kernels
