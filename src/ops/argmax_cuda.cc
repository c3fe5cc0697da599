#include "core/device_copy.h"
#include "ops/argmax.h"
#include "ops/argmax_kernels_cuda.h"
#include "ops/common_cuda.h"

namespace glimpse::ops::cuda {

std::vector<int32_t> argmax_rows(const Tensor& logits) {
  check_argmax_input(logits);
  check_on_gpu(logits, "argmax_rows", "logits");
  const int64_t rows = logits.size(0);
  const int64_t slices = cuda_kernels::argmax_slices(logits.size(1));
  Tensor picked = Tensor::empty({rows}, DType::kI32, Device::kCUDA);
  Tensor slice_values = Tensor::empty({rows, slices}, DType::kF32, Device::kCUDA);
  Tensor slice_indices = Tensor::empty({rows, slices}, DType::kI32, Device::kCUDA);
  check_launch(cuda_kernels::argmax_rows(logits.data<float>(), rows, logits.size(1),
                                         slice_values.data<float>(), slice_indices.data<int32_t>(),
                                         picked.data<int32_t>()),
               "argmax_rows");
  const Tensor on_host = to_device(picked, Device::kCPU);  // waits for the step
  std::vector<int32_t> out(on_host.data<int32_t>(), on_host.data<int32_t>() + rows);
  for (int64_t r = 0; r < rows; ++r)
    if (out[size_t(r)] < 0) fail(ErrorKind::kInternal, "argmax_rows: row {} holds NaN", r);
  return out;
}

}  // namespace glimpse::ops::cuda
