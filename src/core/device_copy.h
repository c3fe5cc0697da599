// Moving tensors between host and GPU memory. The CPU-only build knows only the host.
#pragma once

#include "core/tensor.h"

namespace glimpse {

// `t` on `device`: `t` itself (shared storage, no copy) when it is already there, else a new
// contiguous tensor with the same dtype, shape and bytes. A copy to the host waits for the GPU work
// queued before it. Throws Error(kUnsupported) for the GPU in a build without CUDA.
Tensor to_device(const Tensor& t, Device device);

}  // namespace glimpse
