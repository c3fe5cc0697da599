// Rotary position embedding, applied in place to queries or keys. The angles come from the caller
// (text: 3-D M-RoPE, vision: 2-D (h, w)); the op only rotates pairs of features.
#pragma once

#include <cstdint>
#include <span>

#include "core/tensor.h"
#include "ops/dispatch.h"

namespace glimpse::ops {

enum class RotaryLayout {
  kInterleaved,  // pair i is features (2i, 2i+1): GLM's text decoder (rotate_half_llm)
  kHalves,       // pair i is features (i, i + rotary_dim/2): the vision tower (rotate_half)
};

// The angle table of rotary_inplace: cos and sin, f32 [n, pairs] each.
struct RotaryTables {
  Tensor cos, sin;
};

namespace cpu {
void rotary_inplace(Tensor& x, const Tensor& cos, const Tensor& sin, RotaryLayout layout);
RotaryTables rotary_tables(const Tensor& positions, std::span<const int32_t> pair_axis,
                           std::span<const float> inv_freq);
}  // namespace cpu
namespace cuda {
void rotary_inplace(Tensor& x, const Tensor& cos, const Tensor& sin, RotaryLayout layout);
RotaryTables rotary_tables(const Tensor& positions, std::span<const int32_t> pair_axis,
                           std::span<const float> inv_freq);
// The same with every input already on the GPU (positions int64 [axes, n], pair_axis int32
// [pairs], inv_freq f32 [pairs]), for steps replayed as CUDA graphs.
RotaryTables rotary_tables_on_device(const Tensor& positions, const Tensor& pair_axis,
                                     const Tensor& inv_freq);
}  // namespace cuda

// x: f32 [tokens, heads, head_dim]; cos, sin: f32 [tokens, rotary_dim/2], the angle of each pair.
// The first rotary_dim features of every head are rotated; the rest pass through (partial rotary).
inline void rotary_inplace(Tensor& x, const Tensor& cos, const Tensor& sin, RotaryLayout layout) {
  GLIMPSE_OPS_DISPATCH(x, rotary_inplace, x, cos, sin, layout);
}

// Pair i of token t turns by float(positions[pair_axis[i], t]) · inv_freq[i], in f32 as the
// reference forms it (text: the M-RoPE axis of each pair; vision: h or w). positions: int64
// [axes, n] on the host. The tables are computed on `device` (on the GPU: one small upload and one
// kernel, instead of n · pairs sin/cos on the host).
inline RotaryTables rotary_tables(const Tensor& positions, std::span<const int32_t> pair_axis,
                                  std::span<const float> inv_freq, Device device) {
#if GLIMPSE_WITH_CUDA
  if (device == Device::kCUDA) return cuda::rotary_tables(positions, pair_axis, inv_freq);
#else
  if (device == Device::kCUDA) fail_no_cuda("rotary_tables");
#endif
  return cpu::rotary_tables(positions, pair_axis, inv_freq);
}

}  // namespace glimpse::ops
