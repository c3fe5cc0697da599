// Patch pixels built from 8-bit samples. glimpse's own preprocessing keeps each image's resized
// 8-bit samples beside its normalised f32 patch rows; the GPU takes the samples (one temporal
// copy, one byte each) and a 256-entry table per channel and builds the rows itself: an eighth of
// the bytes a bf16 upload moves, and the same values, since the table is the preprocessing's own.
#pragma once

#include "core/tensor.h"
#include "ops/dispatch.h"

namespace glimpse::ops {

namespace cpu {
void pixels_from_bytes(const Tensor& bytes, const Tensor& levels, const Tensor& out);
}
namespace cuda {
void pixels_from_bytes(const Tensor& bytes, const Tensor& levels, const Tensor& out);
}

// bytes: U8 [rows, channels · area], each patch's samples channel by channel; levels: F32
// [channels, 256], channel c's normalised value of each level; out: F32, BF16 or F16
// [rows, channels · copies · area], all three on one device. Writes
// out[r][(c · copies + t) · area + i] = levels[c][bytes[r][c · area + i]] for every copy t,
// rounded to out's dtype (to nearest even). Throws Error(kInvalidArgument) for other dtypes,
// shapes or devices.
inline void pixels_from_bytes(const Tensor& bytes, const Tensor& levels, const Tensor& out) {
  GLIMPSE_OPS_DISPATCH(bytes, pixels_from_bytes, bytes, levels, out);
}

}  // namespace glimpse::ops
