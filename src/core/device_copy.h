// Moving bytes between host and GPU memory. The CPU-only build knows only the host. Every GPU copy
// is queued on the calling thread's default stream, behind the kernels before it.
#pragma once

#include <cstddef>

#include "core/tensor.h"

namespace glimpse {

// `t` on `device`: `t` itself (shared storage, no copy) when it is already there, else a new
// contiguous tensor with the same dtype, shape and bytes. A copy to the host waits for the GPU work
// queued before it; large uploads stream through pinned staging buffers. Throws
// Error(kUnsupported) for the GPU in a build without CUDA.
Tensor to_device(const Tensor& t, Device device);

// dst's bytes = src's bytes (the same count), wherever each lives.
void copy_into(const Tensor& dst, const Tensor& src);

// dst (on the GPU; f32, bf16 or f16) = src (f32 on the host, as many elements) rounded to dst's
// dtype to nearest even, as the GPU's convert would: a half upload moves half the bytes and needs
// no rounding pass on the GPU. The thread pool rounds into pinned staging buffers, a chunk at a
// time, while the copy engine drains the chunk before.
void upload_rounded(const Tensor& dst, const Tensor& src);

// `rows` rows of `row_bytes` from src (rows `src_pitch` bytes apart) to dst (`dst_pitch` apart),
// both on `device`: one strided copy instead of a loop of small ones.
void copy_rows(void* dst, size_t dst_pitch, const void* src, size_t src_pitch, size_t row_bytes,
               size_t rows, Device device);

// Waits until the GPU has finished everything queued (no-op without CUDA). Only for timing stage
// boundaries; results reach the host through to_device, which waits by itself.
void synchronize_device();

}  // namespace glimpse
