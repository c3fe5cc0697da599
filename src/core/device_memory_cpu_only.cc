#include "core/device_memory.h"
#include "core/error.h"

namespace glimpse {

void* device_allocate(size_t) {
  fail(ErrorKind::kUnsupported,
       "this glimpse was built without CUDA (configure with the 'cuda' preset)");
}

void device_free(void*) {}

DeviceMemoryStats device_memory_stats() {
  return {};
}

void reset_device_memory_peak() {}

class DevicePool {};
std::shared_ptr<DevicePool> make_device_pool() {
  return std::make_shared<DevicePool>();
}
ScopedDevicePool::ScopedDevicePool(DevicePool*) : previous_(nullptr) {}
ScopedDevicePool::~ScopedDevicePool() = default;

std::string describe_cuda_device() {
  fail(ErrorKind::kUnsupported,
       "this glimpse was built without CUDA (configure with the 'cuda' preset)");
}

}  // namespace glimpse
