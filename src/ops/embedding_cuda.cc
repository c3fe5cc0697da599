#include "ops/common_cuda.h"
#include "ops/embedding.h"
#include "ops/kernels_cuda.h"

namespace glimpse::ops::cuda {

// The ids live on the host: they are checked there (same errors as the CPU op), then uploaded.
Tensor embedding(const Tensor& table, std::span<const int32_t> ids) {
  if (!table.defined() || table.dim() != 2 || !is_float_weight(table.dtype()))
    fail(ErrorKind::kInvalidArgument, "embedding: table must be a 2-D F32/BF16/F16 tensor");
  check_on_gpu(table, "embedding", "table");
  const int64_t vocab = table.size(0), d = table.size(1);
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= vocab)
      fail(ErrorKind::kInvalidArgument,
           "embedding: token id {} at position {} is outside the vocabulary [0, {})", ids[i], i,
           vocab);
  Tensor out = Tensor::empty({int64_t(ids.size()), d}, DType::kF32, Device::kCUDA);
  const Tensor device_ids = upload(ids);
  check_launch(cuda_kernels::embedding(table.raw_data(), float_type(table.dtype()),
                                       device_ids.data<int32_t>(), int64_t(ids.size()), d,
                                       out.data<float>()),
               "embedding");
  return out;
}

Tensor embedding_of_device_ids(const Tensor& table, const Tensor& ids) {
  if (!table.defined() || table.dim() != 2 || !is_float_weight(table.dtype()))
    fail(ErrorKind::kInvalidArgument, "embedding: table must be a 2-D F32/BF16/F16 tensor");
  check_on_gpu(table, "embedding", "table");
  if (ids.dtype() != DType::kI32 || ids.dim() != 1)
    fail(ErrorKind::kInvalidArgument, "embedding: device ids must be I32 [n], got {}",
         shape_string(ids.shape()));
  check_on_gpu(ids, "embedding", "ids");
  const int64_t d = table.size(1);
  Tensor out = Tensor::empty({ids.size(0), d}, DType::kF32, Device::kCUDA);
  check_launch(cuda_kernels::embedding(table.raw_data(), float_type(table.dtype()),
                                       ids.data<int32_t>(), ids.size(0), d, out.data<float>()),
               "embedding");
  return out;
}

}  // namespace glimpse::ops::cuda
