// Copies on the calling thread's default stream, where every op is queued: a copy starts after the
// kernels before it and, to the host, returns when the bytes have landed.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <mutex>

#include "core/device_copy.h"
#include "core/thread_pool.h"

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

  // Fills `bytes` at `dst` chunk by chunk: fill(staging, offset, n) writes bytes [offset,
  // offset + n) of the upload into the pinned staging buffer.
  void upload(void* dst, size_t bytes, size_t chunk,
              const std::function<void(std::byte*, size_t, size_t)>& fill) {
    std::lock_guard lock(mutex_);
    if (!buffers_[0]) {
      for (int i = 0; i < 2; ++i) {
        check(cudaMallocHost(&buffers_[i], kChunk), "cudaMallocHost (staging)", kChunk);
        check(cudaEventCreateWithFlags(&done_[i], cudaEventDisableTiming), "cudaEventCreate", 0);
      }
    }
    chunk = std::min(chunk, kChunk);
    for (size_t offset = 0, turn = 0; offset < bytes; offset += chunk, turn ^= 1) {
      const size_t n = std::min(chunk, bytes - offset);
      check(cudaEventSynchronize(done_[turn]), "waiting for a staging buffer", n);
      fill(static_cast<std::byte*>(buffers_[turn]), offset, n);
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

void check_upload_rounded(const Tensor& dst, const Tensor& src) {
  if (!dst.defined() || !src.defined())
    fail(ErrorKind::kInvalidArgument, "upload_rounded: a tensor is undefined");
  if (src.device() != Device::kCPU || src.dtype() != DType::kF32 ||
      dst.device() != Device::kCUDA || !is_float_weight(dst.dtype()) ||
      dst.numel() != src.numel())
    fail(ErrorKind::kInvalidArgument,
         "upload_rounded: {} {} on the {} into {} {} on the {}: needs F32 on the host into as "
         "many F32, BF16 or F16 elements on the GPU",
         dtype_name(src.dtype()), shape_string(src.shape()), device_name(src.device()),
         dtype_name(dst.dtype()), shape_string(dst.shape()), device_name(dst.device()));
}

// Uploads from this size up go through the pinned staging buffers; smaller ones are the driver's.
constexpr size_t kStagedMinBytes = size_t(256) << 10;
constexpr int64_t kCopyGrain = int64_t(256) << 10;  // bytes a thread copies at least

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
  } else if (to_gpu && !from_gpu && bytes >= kStagedMinBytes) {
    // The thread pool copies into pinned staging, so the link is fed at its rate: the driver's
    // own staging of a pageable source is single-threaded (0.76 MB of image samples took 150 µs
    // on an H100; a 64 MB chunk of a checkpoint is memcpy-bound).
    const auto* from = static_cast<const std::byte*>(src.raw_data());
    stager().upload(dst.raw_data(), bytes, PinnedStager::kChunk,
                    [&](std::byte* staging, size_t offset, size_t n) {
                      ThreadPool::global().parallel_for(
                          int64_t(n), kCopyGrain, [&](int64_t begin, int64_t end) {
                            std::memcpy(staging + begin, from + offset + size_t(begin),
                                        size_t(end - begin));
                          });
                    });
  } else if (!to_gpu) {
    check(cudaMemcpy(dst.raw_data(), src.raw_data(), bytes, cudaMemcpyDeviceToHost), "download",
          bytes);
  } else {
    // Small uploads from pageable memory are staged by the driver and do not wait for the queue.
    check(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), bytes, cudaMemcpyDefault, cudaStreamPerThread),
          "copy to the GPU", bytes);
  }
}

void upload_rounded(const Tensor& dst, const Tensor& src) {
  check_upload_rounded(dst, src);
  if (dst.dtype() == DType::kF32) return copy_into(dst, src);
  // Chunks small enough that rounding the next one overlaps the copy of this one.
  constexpr size_t kRoundedChunk = size_t(2) << 20;
  const float* from = src.data<float>();
  const bool bf16 = dst.dtype() == DType::kBF16;
  stager().upload(dst.raw_data(), dst.nbytes(), kRoundedChunk,
                  [&](std::byte* staging, size_t offset, size_t n) {
                    auto* to = reinterpret_cast<uint16_t*>(staging);
                    const float* chunk = from + offset / 2;
                    // One loop per type: the bf16 one vectorises (f32_to_bf16 is inline).
                    ThreadPool::global().parallel_for(
                        int64_t(n / 2), 1 << 16, [&](int64_t begin, int64_t end) {
                          if (bf16)
                            for (int64_t i = begin; i < end; ++i) to[i] = f32_to_bf16(chunk[i]);
                          else
                            for (int64_t i = begin; i < end; ++i) to[i] = f32_to_f16(chunk[i]);
                        });
                  });
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
