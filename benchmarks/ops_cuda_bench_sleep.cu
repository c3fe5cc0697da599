// A kernel that only waits: queued ahead of the timed ops, it lets the host enqueue them all, so
// device events measure the ops back to back rather than the host's launch overhead.
#include <cuda_runtime.h>

#include <cstdint>

namespace {

__device__ inline uint64_t globaltimer() {
  uint64_t ns;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(ns));
  return ns;
}

__global__ void sleep_kernel(uint64_t nanoseconds) {
  const uint64_t start = globaltimer();
  while (globaltimer() - start < nanoseconds) __nanosleep(1000);
}

}  // namespace

cudaError_t gpu_sleep(uint64_t nanoseconds) {
  sleep_kernel<<<1, 1>>>(nanoseconds);
  return cudaGetLastError();
}
