#include "ops/common_cuda.h"
#include "ops/convert.h"
#include "ops/shape_checks.h"

namespace glimpse::ops::cuda {

Tensor convert(const Tensor& x, DType dtype) {
  check_float(x, "convert", "input");
  check_on_gpu(x, "convert", "input");
  check_float_output(dtype, "convert");
  if (x.dtype() == dtype) return x;
  Tensor y = Tensor::empty(x.shape(), dtype, Device::kCUDA);
  check_launch(cuda_kernels::convert(x.raw_data(), float_type(x.dtype()), y.raw_data(),
                                     float_type(dtype), x.numel()),
               "convert");
  return y;
}

}  // namespace glimpse::ops::cuda
