#include "ops/common_cuda.h"
#include "ops/kernels_cuda.h"
#include "ops/norms.h"
#include "ops/shape_checks.h"

namespace glimpse::ops::cuda {
namespace {

int64_t check_row_op(const Tensor& x, const Tensor& weight, const char* op) {
  check_gpu_f32(x, op, "input");
  check_gpu_f32(weight, op, "weight");
  return check_row_shapes(x, weight, op);
}

}  // namespace

Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps, DType out) {
  const int64_t d = check_row_op(x, weight, "rms_norm");
  check_float_output(out, "rms_norm");
  Tensor y = Tensor::empty(x.shape(), out, Device::kCUDA);
  check_launch(cuda_kernels::rms_norm(x.data<float>(), weight.data<float>(), y.raw_data(),
                                      float_type(out), x.numel() / d, int(d), eps),
               "rms_norm");
  return y;
}

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
  const int64_t d = check_row_op(x, weight, "layer_norm");
  check_gpu_f32(bias, "layer_norm", "bias");
  if (bias.numel() != d)
    fail(ErrorKind::kInvalidArgument, "layer_norm: bias {} does not match {} features",
         shape_string(bias.shape()), d);
  Tensor y = Tensor::empty(x.shape(), DType::kF32, Device::kCUDA);
  check_launch(cuda_kernels::layer_norm(x.data<float>(), weight.data<float>(), bias.data<float>(),
                                        y.data<float>(), x.numel() / d, int(d), eps),
               "layer_norm");
  return y;
}

}  // namespace glimpse::ops::cuda
