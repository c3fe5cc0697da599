#include "ops/common_cuda.h"

namespace glimpse::ops::cuda {

void check_launch(cudaError_t status, const char* op) {
  if (status != cudaSuccess)
    fail(ErrorKind::kInternal, "{}: CUDA error {} ({})", op, cudaGetErrorName(status),
         cudaGetErrorString(status));
}

void check_on_gpu(const Tensor& t, const char* op, const char* what) {
  if (!t.defined()) fail(ErrorKind::kInvalidArgument, "{}: {} is undefined", op, what);
  if (t.device() != Device::kCUDA)
    fail(ErrorKind::kInvalidArgument, "{}: {} is on the {}, the op runs on cuda", op, what,
         device_name(t.device()));
}

void check_gpu_f32(const Tensor& t, const char* op, const char* what) {
  check_f32(t, op, what);
  check_on_gpu(t, op, what);
}

cuda_kernels::FloatType float_type(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return cuda_kernels::FloatType::kF32;
    case DType::kBF16:
      return cuda_kernels::FloatType::kBF16;
    case DType::kF16:
      return cuda_kernels::FloatType::kF16;
    default:
      fail(ErrorKind::kInternal, "float_type: {} is not a float type", dtype_name(dtype));
  }
}

cuda_kernels::ActivationKind activation_kind(Activation act) {
  return act == Activation::kSilu ? cuda_kernels::ActivationKind::kSilu
                                  : cuda_kernels::ActivationKind::kGelu;
}

void run_attention(const cuda_kernels::AttentionArgs& args, const char* op) {
  const cuda_kernels::AttentionPlan plan = cuda_kernels::plan_attention(args);
  const Tensor workspace = plan.workspace_floats
                               ? Tensor::empty({plan.workspace_floats}, DType::kF32, Device::kCUDA)
                               : Tensor();
  check_launch(cuda_kernels::attention(args, plan, workspace.data<float>()), op);
}

Tensor upload(std::span<const int32_t> values) {
  Tensor t = Tensor::empty({int64_t(values.size())}, DType::kI32, Device::kCUDA);
  if (!values.empty())
    check_launch(cudaMemcpyAsync(t.raw_data(), values.data(), values.size_bytes(),
                                 cudaMemcpyHostToDevice, cudaStreamPerThread),
                 "upload");
  return t;
}

}  // namespace glimpse::ops::cuda
