// Host-side helpers of the CUDA ops (X_cuda.cc): argument checks and error reporting.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <span>

#include "core/tensor.h"
#include "ops/dispatch.h"
#include "ops/elementwise.h"
#include "ops/kernels_cuda.h"

namespace glimpse::ops::cuda {

// Throws Error(kInternal) naming `op` and the CUDA error unless `status` is cudaSuccess.
void check_launch(cudaError_t status, const char* op);

// Throws Error(kInvalidArgument) unless `t` is defined and lives on the GPU.
void check_on_gpu(const Tensor& t, const char* op, const char* what);

// check_f32 and check_on_gpu.
void check_gpu_f32(const Tensor& t, const char* op, const char* what);

// The kernels' name for an f32, bf16 or f16 dtype (is_float_weight).
cuda_kernels::FloatType float_type(DType dtype);

cuda_kernels::ActivationKind activation_kind(Activation act);

// Plans and launches the attention kernels (attention_cuda.cu) with the split-K workspace they
// need; args.out must be set. Shared by attention.h and paged_attention.h.
void run_attention(const cuda_kernels::AttentionArgs& args, const char* op);

// A device copy of a small host array (token ids, block tables, key ranges), queued on the thread's
// default stream like every op: cudaMemcpyAsync stages pageable memory and returns without waiting
// for the GPU, so the host array may die at once. The kernels that read the copy are queued before
// the tensor is freed, and the allocator hands the block out again only to work queued after them.
Tensor upload(std::span<const int32_t> values);

}  // namespace glimpse::ops::cuda
