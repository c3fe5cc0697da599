#include "ops/common_cuda.h"
#include "ops/elementwise.h"
#include "ops/kernels_cuda.h"

namespace glimpse::ops::cuda {
namespace {

cuda_kernels::ActivationKind kind_of(Activation act) {
  return act == Activation::kSilu ? cuda_kernels::ActivationKind::kSilu
                                  : cuda_kernels::ActivationKind::kGelu;
}

}  // namespace

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
  check_launch(cuda_kernels::activation(x.data<float>(), y.data<float>(), x.numel(), kind_of(act)),
               "activation");
  return y;
}

Tensor gated_activation(const Tensor& gate_up, Activation act) {
  check_gpu_f32(gate_up, "gated_activation", "input");
  if (gate_up.dim() != 2 || gate_up.size(1) % 2 != 0)
    fail(ErrorKind::kInvalidArgument, "gated_activation: input must be [rows, 2·n], got {}",
         shape_string(gate_up.shape()));
  const int64_t rows = gate_up.size(0), n = gate_up.size(1) / 2;
  Tensor y = Tensor::empty({rows, n}, DType::kF32, Device::kCUDA);
  check_launch(
      cuda_kernels::gated_activation(gate_up.data<float>(), y.data<float>(), rows, n, kind_of(act)),
      "gated_activation");
  return y;
}

}  // namespace glimpse::ops::cuda
