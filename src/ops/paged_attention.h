// Causal attention over a paged KV cache (serving): a sequence's keys and values live in
// fixed-size blocks of a shared pool, listed in order by its block table.
//
// Two levels:
//   * paged_causal_attention: one sequence, its block table on the host (uploaded per call);
//   * a serving step (PagedBatch): the step's metadata for every sequence is checked and uploaded
//     once by make_paged_batch, then every layer runs store_kv (the step's new keys and values
//     into the pool) and paged_attention_batch (all sequences' queries at once).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "ops/dispatch.h"

namespace glimpse::ops {

// One sequence's share of a serving step over the paged KV pool.
struct PagedSequence {
  std::span<const int32_t> block_table;  // covers cached_tokens + new_tokens
  int64_t cached_tokens = 0;             // keys already in its blocks
  int64_t new_tokens = 0;                // queries this step (rows of q, in sequence order)
};

// The step's metadata, checked on the host against the pool and uploaded once per step to
// `device` (one cudaMemcpyAsync; no host synchronisation), then shared by every layer. Sequence s
// owns rows [query_start[s], query_start[s + 1]) of the step's q, k and v; its query i sits at
// position context_lens[s] - new_tokens + i and sees keys [0, that position].
struct PagedBatch {
  Device device = Device::kCPU;
  int64_t num_blocks = 0, block_size = 0;  // the pool the tables index
  int64_t sequences = 0;
  int64_t total_tokens = 0;      // Σ new_tokens: rows of q, k, v
  int64_t max_blocks = 0;        // width of block_tables: the most blocks any sequence uses
  int64_t max_new_tokens = 0;    // the most queries of one sequence
  int64_t max_context = 0;       // the most keys of one sequence (cached + new)
  int64_t decode_sequences = 0;  // sequences with new_tokens == 1

  // On `device`, views of one allocation:
  Tensor query_start;   // int32 [sequences + 1]: first row of each sequence, then total_tokens
  Tensor context_lens;  // int32 [sequences]: cached + new
  Tensor block_tables;  // int32 [sequences, max_blocks]: the used blocks of each, padded with 0
  Tensor slots;         // int32 [total_tokens]: block · block_size + offset of each new token
  Tensor decode_seqs;   // int32 [decode_sequences]: the sequences with one new token, in order

  // The same on the host (launch planning, the per-sequence prefill path, tests).
  struct Host {
    std::vector<int32_t> query_start, context_lens, block_tables, slots, decode_seqs;
  } host;

  // Sequence s's used block ids (host copy): ceil(context_lens[s] / block_size) entries.
  std::span<const int32_t> host_table(int64_t s) const;
  int64_t new_tokens(int64_t s) const {
    return host.query_start[size_t(s + 1)] - host.query_start[size_t(s)];
  }
  int64_t cached_tokens(int64_t s) const { return host.context_lens[size_t(s)] - new_tokens(s); }
};

// Checks every sequence against a pool of num_blocks blocks of block_size tokens and builds the
// step's metadata on `device`. Throws Error(kInvalidArgument) naming the sequence when its token
// counts are negative, it has no new tokens, its table does not cover cached + new tokens, or a
// block it uses lies outside the pool; and when there are no sequences.
PagedBatch make_paged_batch(std::span<const PagedSequence> seqs, int64_t num_blocks,
                            int64_t block_size, Device device);

namespace cpu {
Tensor paged_causal_attention(const Tensor& q, const Tensor& k_pool, const Tensor& v_pool,
                              std::span<const int32_t> block_table, int64_t q_offset, float scale);
void store_kv(Tensor& k_pool, Tensor& v_pool, const Tensor& k, const Tensor& v,
              const PagedBatch& batch);
Tensor paged_attention_batch(const Tensor& q, const Tensor& k_pool, const Tensor& v_pool,
                             const PagedBatch& batch, float scale);
}  // namespace cpu
namespace cuda {
Tensor paged_causal_attention(const Tensor& q, const Tensor& k_pool, const Tensor& v_pool,
                              std::span<const int32_t> block_table, int64_t q_offset, float scale);
void store_kv(Tensor& k_pool, Tensor& v_pool, const Tensor& k, const Tensor& v,
              const PagedBatch& batch);
Tensor paged_attention_batch(const Tensor& q, const Tensor& k_pool, const Tensor& v_pool,
                             const PagedBatch& batch, float scale);
}  // namespace cuda

// q: f32 [n, heads, d]; k_pool, v_pool: f32 [blocks, block_size, kv_heads, d] (one layer).
// Query i sits at position q_offset + i and sees the sequence's keys [0, q_offset + i]; key p is
// row p % block_size of block block_table[p / block_size]. Returns f32 [n, heads · d].
inline Tensor paged_causal_attention(const Tensor& q, const Tensor& k_pool, const Tensor& v_pool,
                                     std::span<const int32_t> block_table, int64_t q_offset,
                                     float scale) {
  GLIMPSE_OPS_DISPATCH(q, paged_causal_attention, q, k_pool, v_pool, block_table, q_offset, scale);
}

// k, v: f32 [total_tokens, kv_heads, d] (or [total_tokens, kv_heads · d]): the step's new keys,
// already rotated, and values, written into k_pool / v_pool f32 [num_blocks, block_size, kv_heads,
// d] at batch.slots. Everything on batch.device.
inline void store_kv(Tensor& k_pool, Tensor& v_pool, const Tensor& k, const Tensor& v,
                     const PagedBatch& batch) {
  GLIMPSE_OPS_DISPATCH(k_pool, store_kv, k_pool, v_pool, k, v, batch);
}

// q: f32 [total_tokens, heads, d]; each sequence's queries attend causally to its cached + new keys
// in the pools (store_kv first). Returns f32 [total_tokens, heads · d]. On the GPU, every decode
// sequence (one new token) runs in one launch (plus a merge when the keys are split); the others
// run one paged_causal_attention each.
inline Tensor paged_attention_batch(const Tensor& q, const Tensor& k_pool, const Tensor& v_pool,
                                    const PagedBatch& batch, float scale) {
  GLIMPSE_OPS_DISPATCH(q, paged_attention_batch, q, k_pool, v_pool, batch, scale);
}

}  // namespace glimpse::ops
