// cudaMemcpy on the legacy default stream, where every op is queued: a copy starts after the
// kernels before it and, to the host, returns when the bytes have landed.
#include <cuda_runtime_api.h>

#include "core/device_copy.h"

namespace glimpse {

Tensor to_device(const Tensor& t, Device device) {
  if (!t.defined()) fail(ErrorKind::kInvalidArgument, "to_device: the tensor is undefined");
  if (t.device() == device) return t;
  Tensor copy = Tensor::empty(t.shape(), t.dtype(), device);
  if (t.nbytes() == 0) return copy;
  const cudaMemcpyKind kind =
      device == Device::kCUDA ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost;
  const cudaError_t status = cudaMemcpy(copy.raw_data(), t.raw_data(), t.nbytes(), kind);
  if (status != cudaSuccess)
    fail(ErrorKind::kInternal, "to_device: copying {} bytes to the {} failed: {}", t.nbytes(),
         device_name(device), cudaGetErrorString(status));
  return copy;
}

}  // namespace glimpse
