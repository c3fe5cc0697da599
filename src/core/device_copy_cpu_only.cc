#include <cstring>

#include "core/device_copy.h"

namespace glimpse {
namespace {

[[noreturn]] void fail_no_cuda() {
  fail(ErrorKind::kUnsupported,
       "this glimpse was built without CUDA (configure with the 'cuda' preset)");
}

}  // namespace

Tensor to_device(const Tensor& t, Device device) {
  if (!t.defined()) fail(ErrorKind::kInvalidArgument, "to_device: the tensor is undefined");
  if (device == Device::kCUDA) fail_no_cuda();
  return t;  // a CPU-only build has no tensor anywhere else
}

void copy_into(const Tensor& dst, const Tensor& src) {
  if (dst.nbytes() != src.nbytes())
    fail(ErrorKind::kInvalidArgument, "copy_into: {} bytes into {}", src.nbytes(), dst.nbytes());
  if (dst.device() == Device::kCUDA || src.device() == Device::kCUDA) fail_no_cuda();
  if (src.nbytes()) std::memcpy(dst.raw_data(), src.raw_data(), src.nbytes());
}

void upload_rounded(const Tensor&, const Tensor&) {
  fail_no_cuda();
}

void copy_rows(void* dst, size_t dst_pitch, const void* src, size_t src_pitch, size_t row_bytes,
               size_t rows, Device device) {
  if (device == Device::kCUDA) fail_no_cuda();
  for (size_t r = 0; r < rows; ++r)
    std::memcpy(static_cast<std::byte*>(dst) + r * dst_pitch,
                static_cast<const std::byte*>(src) + r * src_pitch, row_bytes);
}

void synchronize_device() {}

}  // namespace glimpse
