// Greedy decoding's pick: the index of each row's largest logit, found where the logits live, so a
// serving step of greedy requests downloads one int per sequence instead of whole vocabularies.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "ops/dispatch.h"

namespace glimpse::ops {

// The input check both variants share: logits must be f32 [rows, vocab > 0].
void check_argmax_input(const Tensor& logits);

namespace cpu {
std::vector<int32_t> argmax_rows(const Tensor& logits);
}
namespace cuda {
std::vector<int32_t> argmax_rows(const Tensor& logits);
}

// logits: f32 [rows, vocab]. Returns, on the host, the first index of each row's maximum (ties go
// to the lower index, as torch.argmax). A row holding NaN throws Error(kInternal) naming the row.
inline std::vector<int32_t> argmax_rows(const Tensor& logits) {
  GLIMPSE_OPS_DISPATCH(logits, argmax_rows, logits);
}

}  // namespace glimpse::ops
