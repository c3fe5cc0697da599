// Device memory for Storage: a caching allocator over plain cudaMalloc (never managed memory).
// Freed blocks are kept per rounded size and reused, so steady-state decode steps allocate nothing.
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <unordered_map>

#include "core/device_memory.h"
#include "core/error.h"

namespace glimpse {
namespace {

// Sizes round up to 512 B below 1 MiB and to 2 MiB above, bounding waste and the number of bins.
size_t round_size(size_t bytes) {
  constexpr size_t kSmall = 512, kLarge = 2u << 20;
  if (bytes < (1u << 20)) return (bytes + kSmall - 1) / kSmall * kSmall;
  return (bytes + kLarge - 1) / kLarge * kLarge;
}

using FreeBlocks = std::multimap<size_t, void*>;

}  // namespace

// Blocks of one private pool (device_memory.h): its cached free blocks; its blocks in use are in
// the allocator's live map, marked with the pool.
class DevicePool {
 public:
  ~DevicePool();
  FreeBlocks free;
};

namespace {

thread_local DevicePool* current_pool = nullptr;

class CachingAllocator {
 public:
  void* allocate(size_t bytes) {
    const size_t size = round_size(bytes == 0 ? 1 : bytes);
    DevicePool* pool = current_pool;
    FreeBlocks& free = pool ? pool->free : free_;
    std::lock_guard lock(mutex_);
    auto it = free.find(size);
    if (it != free.end()) {
      void* ptr = it->second;
      free.erase(it);
      track_locked(ptr, size, pool);
      return ptr;
    }
    void* ptr = nullptr;
    cudaError_t err = cudaMalloc(&ptr, size);
    if (err == cudaErrorMemoryAllocation && !free_.empty()) {
      release_cached_locked();  // give cached blocks back and try once more
      (void)cudaGetLastError();
      err = cudaMalloc(&ptr, size);
    }
    if (err != cudaSuccess)
      fail(ErrorKind::kLimitExceeded, "cudaMalloc of {} bytes failed: {}", size,
           cudaGetErrorString(err));
    stats_.reserved += size;
    track_locked(ptr, size, pool);
    return ptr;
  }

  void release(void* ptr) {
    if (!ptr) return;
    std::lock_guard lock(mutex_);
    auto it = live_.find(ptr);
    if (it == live_.end()) return;
    (it->second.pool ? it->second.pool->free : free_).emplace(it->second.size, ptr);
    stats_.in_use -= it->second.size;
    live_.erase(it);
  }

  // The pool's cached blocks go back to the driver; its blocks still in use return to the shared
  // cache when they are freed.
  void destroy_pool(DevicePool& pool) {
    std::lock_guard lock(mutex_);
    for (auto& [size, ptr] : pool.free) {
      cudaFree(ptr);
      stats_.reserved -= size;
    }
    pool.free.clear();
    for (auto& [ptr, block] : live_)
      if (block.pool == &pool) block.pool = nullptr;
  }

  DeviceMemoryStats stats() {
    std::lock_guard lock(mutex_);
    return stats_;
  }

  void reset_peak() {
    std::lock_guard lock(mutex_);
    stats_.peak_in_use = stats_.in_use;
  }

 private:
  void track_locked(void* ptr, size_t size, DevicePool* pool) {
    live_[ptr] = Block{size, pool};
    stats_.in_use += size;
    stats_.peak_in_use = std::max(stats_.peak_in_use, stats_.in_use);
  }

  void release_cached_locked() {
    for (auto& [size, ptr] : free_) {
      cudaFree(ptr);
      stats_.reserved -= size;
    }
    free_.clear();
  }

  struct Block {
    size_t size;
    DevicePool* pool;  // nullptr: the shared cache
  };
  std::mutex mutex_;
  FreeBlocks free_;
  std::unordered_map<void*, Block> live_;
  DeviceMemoryStats stats_;
};

CachingAllocator& allocator() {
  static auto* instance =
      new CachingAllocator();  // never destroyed: frees after CUDA teardown are unsafe
  return *instance;
}

}  // namespace

void* device_allocate(size_t bytes) {
  return allocator().allocate(bytes);
}
void device_free(void* ptr) {
  allocator().release(ptr);
}

std::string describe_cuda_device() {
  int device = 0;
  cudaDeviceProp properties{};
  cudaError_t status = cudaGetDevice(&device);
  if (status == cudaSuccess) status = cudaGetDeviceProperties(&properties, device);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();  // leave no error behind for the next launch check
    fail(ErrorKind::kUnsupported, "no usable CUDA device: {}", cudaGetErrorString(status));
  }
  return fmt::format("{} (sm_{}{}, {} SMs, {:.1f} GiB)", properties.name, properties.major,
                     properties.minor, properties.multiProcessorCount,
                     double(properties.totalGlobalMem) / double(size_t(1) << 30));
}

DeviceMemoryStats device_memory_stats() {
  return allocator().stats();
}

void reset_device_memory_peak() {
  allocator().reset_peak();
}

DevicePool::~DevicePool() {
  allocator().destroy_pool(*this);
}

std::shared_ptr<DevicePool> make_device_pool() {
  return std::make_shared<DevicePool>();
}

ScopedDevicePool::ScopedDevicePool(DevicePool* pool) : previous_(current_pool) {
  current_pool = pool;
}

ScopedDevicePool::~ScopedDevicePool() {
  current_pool = previous_;
}

}  // namespace glimpse
