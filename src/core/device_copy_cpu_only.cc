#include "core/device_copy.h"

namespace glimpse {

Tensor to_device(const Tensor& t, Device device) {
  if (!t.defined()) fail(ErrorKind::kInvalidArgument, "to_device: the tensor is undefined");
  if (device == Device::kCUDA)
    fail(ErrorKind::kUnsupported,
         "this glimpse was built without CUDA (configure with the 'cuda' preset)");
  return t;  // a CPU-only build has no tensor anywhere else
}

}  // namespace glimpse
