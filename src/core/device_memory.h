// Device allocations behind Storage. The CPU build reports a clear error; the CUDA build
// (ops/cuda) provides the caching allocator.
#pragma once

#include <cstddef>

namespace glimpse {

void* device_allocate(size_t bytes);
void device_free(void* ptr);

// What the allocator holds: bytes handed out now, their high-water mark since the last reset, and
// bytes obtained from cudaMalloc (in use + cached for reuse). All zero without CUDA.
struct DeviceMemoryStats {
  size_t in_use = 0, peak_in_use = 0, reserved = 0;
};
DeviceMemoryStats device_memory_stats();
void reset_device_memory_peak();  // peak_in_use = in_use

}  // namespace glimpse
