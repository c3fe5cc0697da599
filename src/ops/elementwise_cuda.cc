#include "ops/common_cuda.h"
#include "ops/elementwise.h"
#include "ops/kernels_cuda.h"
#include "ops/shape_checks.h"

namespace glimpse::ops::cuda {

void add_inplace(Tensor& x, const Tensor& y) {
  check_gpu_f32(x, "add", "x");
  check_gpu_f32(y, "add", "y");
  if (x.shape() != y.shape())
    fail(ErrorKind::kInvalidArgument, "add: shapes {} and {} differ", shape_string(x.shape()),
         shape_string(y.shape()));
  check_launch(cuda_kernels::add_inplace(x.data<float>(), y.data<float>(), x.numel()), "add");
}

Tensor activation(const Tensor& x, Activation act) {
  check_gpu_f32(x, "activation", "input");
  Tensor y = Tensor::empty(x.shape(), DType::kF32, Device::kCUDA);
  check_launch(
      cuda_kernels::activation(x.data<float>(), y.data<float>(), x.numel(), activation_kind(act)),
      "activation");
  return y;
}

Tensor gated_activation(const Tensor& gate_up, Activation act, DType out) {
  check_gated_shapes(gate_up, out);
  check_on_gpu(gate_up, "gated_activation", "input");
  const int64_t rows = gate_up.size(0), n = gate_up.size(1) / 2;
  Tensor y = Tensor::empty({rows, n}, out, Device::kCUDA);
  check_launch(
      cuda_kernels::gated_activation(gate_up.raw_data(), float_type(gate_up.dtype()), y.raw_data(),
                                     float_type(out), rows, n, activation_kind(act)),
      "gated_activation");
  return y;
}

}  // namespace glimpse::ops::cuda
