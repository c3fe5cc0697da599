// Launcher of argmax_cuda.cu; see kernels_cuda.h for the conventions.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace glimpse::ops::cuda_kernels {

// out[r] = first index of the maximum of row r of logits [rows, vocab], or -1 if it holds NaN.
cudaError_t argmax_rows(const float* logits, int64_t rows, int64_t vocab, int32_t* out);

}  // namespace glimpse::ops::cuda_kernels
