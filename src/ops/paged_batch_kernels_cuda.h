// Launchers of the serving-step kernels (paged_batch_cuda.cu) behind cuda::store_kv and
// cuda::paged_attention_batch (paged_batch_cuda.cc). Raw device pointers and sizes only; every
// launcher enqueues on the calling thread's default stream and returns cudaGetLastError().
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace glimpse::ops::cuda_kernels {

// k_pool/v_pool row slots[t] = k/v row t, rows of `row` floats, for t < tokens.
cudaError_t paged_store_kv(float* k_pool, float* v_pool, const float* k, const float* v,
                           const int32_t* slots, int64_t tokens, int64_t row);

// Flash decoding over the paged pool for the sequences with one new token: sequence
// decode_seqs[i] has its query at row query_start[seq] of q and attends to its context_lens[seq]
// keys, key p at slot block_tables[seq · max_blocks + p / block_size] · block_size +
// p % block_size of the pools [slots, kv_heads, head_dim].
struct PagedDecodeArgs {
  const float* q;  // [tokens, heads, head_dim]
  const float* k;
  const float* v;
  float* out;  // [tokens, heads · head_dim]; only the decode rows are written
  const int32_t *query_start, *context_lens, *block_tables, *decode_seqs;
  int64_t block_size;
  int max_blocks, decode_count, heads, kv_heads, head_dim;
  float scale;
};
constexpr int kPagedDecodeMaxHeadDim = 256;
// One CTA per (decode sequence, key chunk, KV head, group of up to 16 query heads of that KV
// head); `chunks` chunks of chunk_keys keys each. With chunks > 1 the CTAs leave partial softmaxes
// (workspace_floats floats) that a second kernel merges.
struct PagedDecodePlan {
  int chunks, chunk_keys;
  int64_t workspace_floats;
};
// max_context: the most keys of any decode sequence.
PagedDecodePlan plan_paged_decode(const PagedDecodeArgs& args, int64_t max_context);
cudaError_t paged_decode(const PagedDecodeArgs& args, const PagedDecodePlan& plan,
                         float* workspace);

}  // namespace glimpse::ops::cuda_kernels
