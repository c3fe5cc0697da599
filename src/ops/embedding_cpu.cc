#include <cstring>

#include "ops/embedding.h"

namespace glimpse::ops::cpu {

// Reads one row of d weights per id.
Tensor embedding(const Tensor& table, std::span<const int32_t> ids) {
  if (!table.defined() || table.dim() != 2 || !is_float_weight(table.dtype()))
    fail(ErrorKind::kInvalidArgument, "embedding: table must be a 2-D F32/BF16/F16 tensor");
  const int64_t vocab = table.size(0), d = table.size(1);
  Tensor out = Tensor::empty({int64_t(ids.size()), d}, DType::kF32);
  float* dst = out.data<float>();
  for (size_t i = 0; i < ids.size(); ++i) {
    const int64_t id = ids[i];
    if (id < 0 || id >= vocab)
      fail(ErrorKind::kInvalidArgument,
           "embedding: token id {} at position {} is outside the vocabulary [0, {})", id, i, vocab);
    float* row = dst + int64_t(i) * d;
    switch (table.dtype()) {
      case DType::kF32:
        std::memcpy(row, table.data<float>() + id * d, size_t(d) * sizeof(float));
        break;
      case DType::kBF16: {
        const uint16_t* src = table.data<uint16_t>() + id * d;
        for (int64_t j = 0; j < d; ++j) row[j] = bf16_to_f32(src[j]);
        break;
      }
      default: {
        const uint16_t* src = table.data<uint16_t>() + id * d;
        for (int64_t j = 0; j < d; ++j) row[j] = f16_to_f32(src[j]);
      }
    }
  }
  return out;
}

}  // namespace glimpse::ops::cpu
