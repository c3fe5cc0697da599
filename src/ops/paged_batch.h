// Internal to the ops: the checks store_kv and paged_attention_batch share between the CPU and
// CUDA variants (paged_batch.cc), so both reject the same inputs with the same messages.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "ops/paged_attention.h"

namespace glimpse::ops {

struct PagedShape {
  int64_t heads = 0, kv_heads = 0, head_dim = 0;
};

// The pools f32 [batch.num_blocks, batch.block_size, kv_heads, d]: returns kv_heads and d.
PagedShape check_paged_pools(const Tensor& k_pool, const Tensor& v_pool, const PagedBatch& batch,
                             const char* op);
// store_kv: k and v f32 [total_tokens, kv_heads, d] or [total_tokens, kv_heads · d].
PagedShape check_store_kv(const Tensor& k_pool, const Tensor& v_pool, const Tensor& k,
                          const Tensor& v, const PagedBatch& batch);
// paged_attention_batch: q f32 [total_tokens, heads, d] with kv_heads dividing heads.
PagedShape check_attention_batch(const Tensor& q, const Tensor& k_pool, const Tensor& v_pool,
                                 const PagedBatch& batch);

}  // namespace glimpse::ops
