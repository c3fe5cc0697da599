// Copies on the calling thread's default stream, where every op is queued: a copy starts after the
// kernels before it and, to the host, returns when the bytes have landed.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "core/device_copy.h"

namespace glimpse {
namespace {

void check(cudaError_t status, const char* what, size_t bytes) {
  if (status != cudaSuccess)
    fail(ErrorKind::kInternal, "{} of {} bytes failed: {}", what, bytes,
         cudaGetErrorString(status));
}

// Uploads from pageable memory (a memory-mapped checkpoint) run at a fraction of the link's rate.
// Two pinned buffers take turns: the CPU fills one while the copy engine drains the other.
class PinnedStager {
 public:
  static constexpr size_t kChunk = size_t(64) << 20;

  void upload(void* dst, const void* src, size_t bytes) {
    std::lock_guard lock(mutex_);
    if (!buffers_[0]) {
      for (int i = 0; i < 2; ++i) {
        check(cudaMallocHost(&buffers_[i], kChunk), "cudaMallocHost (staging)", kChunk);
        check(cudaEventCreateWithFlags(&done_[i], cudaEventDisableTiming), "cudaEventCreate", 0);
      }
    }
    for (size_t offset = 0, turn = 0; offset < bytes; offset += kChunk, turn ^= 1) {
      const size_t n = std::min(kChunk, bytes - offset);
      check(cudaEventSynchronize(done_[turn]), "waiting for a staging buffer", n);
      std::memcpy(buffers_[turn], static_cast<const std::byte*>(src) + offset, n);
      check(cudaMemcpyAsync(static_cast<std::byte*>(dst) + offset, buffers_[turn], n,
                            cudaMemcpyHostToDevice, cudaStreamPerThread),
            "upload", n);
      check(cudaEventRecord(done_[turn], cudaStreamPerThread), "cudaEventRecord", n);
    }
  }

 private:
  std::mutex mutex_;
  void* buffers_[2] = {nullptr, nullptr};
  cudaEvent_t done_[2] = {nullptr, nullptr};
};

PinnedStager& stager() {
  static auto* instance = new PinnedStager();  // never destroyed: CUDA may be gone at exit
  return *instance;
}

}  // namespace

Tensor to_device(const Tensor& t, Device device) {
  if (!t.defined()) fail(ErrorKind::kInvalidArgument, "to_device: the tensor is undefined");
  if (t.device() == device) return t;
  Tensor copy = Tensor::empty(t.shape(), t.dtype(), device);
  copy_into(copy, t);
  return copy;
}

void copy_into(const Tensor& dst, const Tensor& src) {
  const size_t bytes = src.nbytes();
  if (dst.nbytes() != bytes)
    fail(ErrorKind::kInvalidArgument, "copy_into: {} bytes into {}", bytes, dst.nbytes());
  if (bytes == 0) return;
  const bool to_gpu = dst.device() == Device::kCUDA, from_gpu = src.device() == Device::kCUDA;
  if (!to_gpu && !from_gpu) {
    std::memcpy(dst.raw_data(), src.raw_data(), bytes);
  } else if (to_gpu && !from_gpu && bytes >= PinnedStager::kChunk) {
    stager().upload(dst.raw_data(), src.raw_data(), bytes);
  } else if (!to_gpu) {
    check(cudaMemcpy(dst.raw_data(), src.raw_data(), bytes, cudaMemcpyDeviceToHost), "download",
          bytes);
  } else {
    // Small uploads from pageable memory are staged by the driver and do not wait for the queue.
    check(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), bytes, cudaMemcpyDefault, cudaStreamPerThread),
          "copy to the GPU", bytes);
  }
}

void copy_rows(void* dst, size_t dst_pitch, const void* src, size_t src_pitch, size_t row_bytes,
               size_t rows, Device device) {
  if (rows == 0 || row_bytes == 0) return;
  if (device == Device::kCPU) {
    for (size_t r = 0; r < rows; ++r)
      std::memcpy(static_cast<std::byte*>(dst) + r * dst_pitch,
                  static_cast<const std::byte*>(src) + r * src_pitch, row_bytes);
    return;
  }
  check(cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, row_bytes, rows,
                          cudaMemcpyDeviceToDevice, cudaStreamPerThread),
        "strided copy on the GPU", row_bytes * rows);
}

void synchronize_device() {
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize", 0);
}

}  // namespace glimpse
