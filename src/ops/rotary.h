// Rotary position embedding, applied in place to queries or keys. The angles come from the caller
// (text: 3-D M-RoPE, vision: 2-D (h, w)); the op only rotates pairs of features.
#pragma once

#include "core/tensor.h"
#include "ops/dispatch.h"

namespace glimpse::ops {

enum class RotaryLayout {
  kInterleaved,  // pair i is features (2i, 2i+1): GLM's text decoder (rotate_half_llm)
  kHalves,       // pair i is features (i, i + rotary_dim/2): the vision tower (rotate_half)
};

namespace cpu {
void rotary_inplace(Tensor& x, const Tensor& cos, const Tensor& sin, RotaryLayout layout);
}
namespace cuda {
void rotary_inplace(Tensor& x, const Tensor& cos, const Tensor& sin, RotaryLayout layout);
}

// x: f32 [tokens, heads, head_dim]; cos, sin: f32 [tokens, rotary_dim/2], the angle of each pair.
// The first rotary_dim features of every head are rotated; the rest pass through (partial rotary).
inline void rotary_inplace(Tensor& x, const Tensor& cos, const Tensor& sin, RotaryLayout layout) {
  GLIMPSE_OPS_DISPATCH(x, rotary_inplace, x, cos, sin, layout);
}

}  // namespace glimpse::ops
