// Token embedding lookup: rows of the embedding table, upcast to f32 as they are gathered.
#pragma once

#include <cstdint>
#include <span>

#include "core/tensor.h"
#include "ops/dispatch.h"

namespace glimpse::ops {

namespace cpu {
Tensor embedding(const Tensor& table, std::span<const int32_t> ids);
}
namespace cuda {
Tensor embedding(const Tensor& table, std::span<const int32_t> ids);
// The same with the ids already on the GPU (int32 [n]), for steps replayed as CUDA graphs: the
// caller has checked them against the vocabulary.
Tensor embedding_of_device_ids(const Tensor& table, const Tensor& ids);
}

// table: f32/bf16/f16 [vocab, d]. Returns f32 [ids.size(), d]; an id outside [0, vocab) throws
// Error(kInvalidArgument) naming it and its position.
inline Tensor embedding(const Tensor& table, std::span<const int32_t> ids) {
  GLIMPSE_OPS_DISPATCH(table, embedding, table, ids);
}

}  // namespace glimpse::ops
