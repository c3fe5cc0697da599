#include "ops/common_cuda.h"
#include "ops/convert.h"

namespace glimpse::ops::cuda {

Tensor convert(const Tensor& x, DType dtype) {
  check_float(x, "convert", "input");
  check_on_gpu(x, "convert", "input");
  if (!is_float_weight(dtype))
    fail(ErrorKind::kInvalidArgument, "convert: {} is not F32, BF16 or F16", dtype_name(dtype));
  if (x.dtype() == dtype) return x;
  Tensor y = Tensor::empty(x.shape(), dtype, Device::kCUDA);
  check_launch(cuda_kernels::convert(x.raw_data(), float_type(x.dtype()), y.raw_data(),
                                     float_type(dtype), x.numel()),
               "convert");
  return y;
}

}  // namespace glimpse::ops::cuda
