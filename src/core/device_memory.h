// Device allocations behind Storage. The CPU build reports a clear error; the CUDA build
// (ops/cuda) provides the caching allocator.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace glimpse {

void* device_allocate(size_t bytes);
void device_free(void* ptr);

// What the allocator holds: bytes handed out now, their high-water mark since the last reset, and
// bytes obtained from cudaMalloc (in use + cached for reuse). All zero without CUDA.
struct DeviceMemoryStats {
  size_t in_use = 0, peak_in_use = 0, reserved = 0;
};
DeviceMemoryStats device_memory_stats();

// A private pool of device memory. While a ScopedDevicePool names it on a thread, that thread's
// device allocations come from the pool and return to it when freed, and the pool keeps its
// memory until it is destroyed. A CUDA graph captured inside the scope replays on exactly these
// addresses, so no other allocation may be handed them in between. Counted in the stats.
class DevicePool;
std::shared_ptr<DevicePool> make_device_pool();
class ScopedDevicePool {
 public:
  explicit ScopedDevicePool(DevicePool* pool);
  ~ScopedDevicePool();
  ScopedDevicePool(const ScopedDevicePool&) = delete;
  ScopedDevicePool& operator=(const ScopedDevicePool&) = delete;

 private:
  DevicePool* previous_;
};
void reset_device_memory_peak();  // peak_in_use = in_use

// The GPU this process computes on, e.g. "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.2 GiB)".
// Throws Error(kUnsupported) naming why there is none (no CUDA in this build, no device or driver).
std::string describe_cuda_device();

}  // namespace glimpse
