// Device allocations behind Storage. The CPU build reports a clear error; the CUDA build
// (ops/cuda) provides the caching allocator.
#pragma once

#include <cstddef>

namespace glimpse {

void* device_allocate(size_t bytes);
void device_free(void* ptr);

}  // namespace glimpse
