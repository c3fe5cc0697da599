// Scaled dot-product attention: causal with grouped KV heads (the text decoder over its KV cache)
// and bidirectional within variable-length segments (the vision tower, one segment per image
// frame).
#pragma once

#include <cstdint>
#include <span>

#include "core/tensor.h"
#include "ops/dispatch.h"
#include "ops/rotary.h"

namespace glimpse::ops {

namespace cpu {
Tensor causal_attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t q_offset,
                        float scale);
Tensor segment_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                         std::span<const int64_t> cu_seqlens, float scale);
Tensor rotary_segment_attention(const Tensor& qkv, int64_t heads, const Tensor& cos,
                                const Tensor& sin, RotaryLayout layout,
                                std::span<const int64_t> cu_seqlens, float scale);
}  // namespace cpu
namespace cuda {
Tensor causal_attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t q_offset,
                        float scale);
Tensor segment_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                         std::span<const int64_t> cu_seqlens, float scale);
Tensor rotary_segment_attention(const Tensor& qkv, int64_t heads, const Tensor& cos,
                                const Tensor& sin, RotaryLayout layout,
                                std::span<const int64_t> cu_seqlens, float scale);
}  // namespace cuda

// q: f32 [n, heads, d]; k, v: f32 [keys, kv_heads, d] with heads a multiple of kv_heads (query head
// h reads KV head h / (heads / kv_heads)). Query i sits at position q_offset + i and sees keys
// [0, q_offset + i]. Returns f32 [n, heads · d].
inline Tensor causal_attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t q_offset,
                               float scale) {
  GLIMPSE_OPS_DISPATCH(q, causal_attention, q, k, v, q_offset, scale);
}

// q, k, v: [tokens, heads, d], all f32 or all one half type; tokens [cu_seqlens[s],
// cu_seqlens[s+1]) attend to each other only. cu_seqlens starts at 0 and ends at tokens. Returns
// [tokens, heads · d] in q's dtype; softmax and sums are f32.
inline Tensor segment_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                std::span<const int64_t> cu_seqlens, float scale) {
  GLIMPSE_OPS_DISPATCH(q, segment_attention, q, k, v, cu_seqlens, scale);
}

// The vision tower's attention from its packed qkv [n, 3 · heads · head_dim] (rows [q | k | v]):
// segment_attention of split_qkv_rotary(qkv, heads, heads, cos, sin, layout, qkv's dtype). On the
// GPU, for a bf16 qkv in the halves layout with head_dim / 2 pairs, q and k are rotated into a
// buffer laid out as qkv and the flash kernel reads v in place: two thirds of the split's bytes,
// the same results bit for bit. Returns [n, heads · head_dim] in qkv's dtype.
inline Tensor rotary_segment_attention(const Tensor& qkv, int64_t heads, const Tensor& cos,
                                       const Tensor& sin, RotaryLayout layout,
                                       std::span<const int64_t> cu_seqlens, float scale) {
  GLIMPSE_OPS_DISPATCH(qkv, rotary_segment_attention, qkv, heads, cos, sin, layout, cu_seqlens,
                       scale);
}

}  // namespace glimpse::ops
