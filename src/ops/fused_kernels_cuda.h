// Launchers of the fused kernels (fused_cuda.cu); see kernels_cuda.h for the conventions.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "ops/kernels_cuda.h"

namespace glimpse::ops::cuda_kernels {

// Per row of d: hidden += x·r(x)·x_weight; then next = hidden·r(hidden)·next_weight when
// next_weight is given (r = 1 / sqrt(mean(·²) + eps)). One block per row.
cudaError_t residual_rms_norm(float* hidden, const float* x, const float* x_weight,
                              const float* next_weight, float* next, int64_t rows, int d,
                              float eps);

// qkv [n, slots · d] (slots = heads + 2·kv_heads) in `in` → q [n, heads, d], k, v [n, kv_heads,
// d] in `out`; q and k rotated pairwise in f32: pair i is features (i·first_step, i·first_step +
// second_offset), and the features past the pairs' 2·pairs are copied (d even).
cudaError_t split_qkv_rotary(const void* qkv, FloatType in, void* q, void* k, void* v,
                             FloatType out, const float* cos, const float* sin, int64_t n,
                             int heads, int kv_heads, int d, int pairs, int first_step,
                             int second_offset);

// The q and k slots of a bf16 qkv [n, (heads + 2·kv_heads) · d], rotated as split_qkv_rotary
// rotates them (halves layout, d / 2 pairs), into `rotated` laid out as qkv; its v slots are not
// written. d % 16 == 0, every pointer 16-byte aligned.
cudaError_t rotate_qk_packed_halves(const void* qkv, void* rotated, const float* cos,
                                    const float* sin, int64_t n, int heads, int kv_heads, int d);

}  // namespace glimpse::ops::cuda_kernels
