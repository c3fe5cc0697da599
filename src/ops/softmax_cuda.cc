#include "ops/common_cuda.h"
#include "ops/kernels_cuda.h"
#include "ops/softmax.h"

namespace glimpse::ops::cuda {

Tensor softmax(const Tensor& x) {
  check_gpu_f32(x, "softmax", "input");
  if (x.dim() < 1 || x.size(-1) == 0)
    fail(ErrorKind::kInvalidArgument, "softmax: input {} has no last dimension to normalise",
         shape_string(x.shape()));
  const int64_t n = x.size(-1);
  Tensor y = Tensor::empty(x.shape(), DType::kF32, Device::kCUDA);
  check_launch(cuda_kernels::softmax(x.data<float>(), y.data<float>(), x.numel() / n, n),
               "softmax");
  return y;
}

}  // namespace glimpse::ops::cuda
