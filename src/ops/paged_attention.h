// Causal attention over a paged KV cache (serving): a sequence's keys and values live in
// fixed-size blocks of a shared pool, listed in order by its block table.
#pragma once

#include <cstdint>
#include <span>

#include "core/tensor.h"
#include "ops/dispatch.h"

namespace glimpse::ops {

namespace cpu {
Tensor paged_causal_attention(const Tensor& q, const Tensor& k_pool, const Tensor& v_pool,
                              std::span<const int32_t> block_table, int64_t q_offset, float scale);
}  // namespace cpu
namespace cuda {
Tensor paged_causal_attention(const Tensor& q, const Tensor& k_pool, const Tensor& v_pool,
                              std::span<const int32_t> block_table, int64_t q_offset, float scale);
}  // namespace cuda

// q: f32 [n, heads, d]; k_pool, v_pool: f32 [blocks, block_size, kv_heads, d] (one layer).
// Query i sits at position q_offset + i and sees the sequence's keys [0, q_offset + i]; key p is
// row p % block_size of block block_table[p / block_size]. Returns f32 [n, heads · d].
inline Tensor paged_causal_attention(const Tensor& q, const Tensor& k_pool, const Tensor& v_pool,
                                     std::span<const int32_t> block_table, int64_t q_offset,
                                     float scale) {
  GLIMPSE_OPS_DISPATCH(q, paged_causal_attention, q, k_pool, v_pool, block_table, q_offset, scale);
}

}  // namespace glimpse::ops
