// make_paged_batch and the shape checks of store_kv / paged_attention_batch, shared by the CPU and
// CUDA variants (paged_attention_cpu.cc, paged_batch_cuda.cc).
#include "ops/paged_batch.h"

#include <algorithm>
#include <climits>
#include <cstring>

#if GLIMPSE_WITH_CUDA
#include "ops/common_cuda.h"
#endif

namespace glimpse::ops {

std::span<const int32_t> PagedBatch::host_table(int64_t s) const {
  const int64_t used = (host.context_lens[size_t(s)] + block_size - 1) / block_size;
  return std::span<const int32_t>(host.block_tables).subspan(size_t(s * max_blocks), size_t(used));
}

PagedBatch make_paged_batch(std::span<const PagedSequence> seqs, int64_t num_blocks,
                            int64_t block_size, Device device) {
  const char* op = "make_paged_batch";
  if (num_blocks <= 0 || block_size <= 0)
    fail(ErrorKind::kInvalidArgument, "{}: the pool must have blocks, got {} of {} tokens", op,
         num_blocks, block_size);
  if (num_blocks > INT32_MAX / block_size)
    fail(ErrorKind::kInvalidArgument, "{}: a pool of {} blocks of {} tokens is over 2^31 slots",
         op, num_blocks, block_size);
  if (seqs.empty()) fail(ErrorKind::kInvalidArgument, "{}: no sequences given", op);

  PagedBatch batch;
  batch.device = device;
  batch.num_blocks = num_blocks;
  batch.block_size = block_size;
  batch.sequences = int64_t(seqs.size());
  for (size_t s = 0; s < seqs.size(); ++s) {
    const PagedSequence& seq = seqs[s];
    if (seq.cached_tokens < 0 || seq.new_tokens < 0)
      fail(ErrorKind::kInvalidArgument, "{}: sequence {} has {} cached and {} new tokens", op, s,
           seq.cached_tokens, seq.new_tokens);
    if (seq.new_tokens == 0)
      fail(ErrorKind::kInvalidArgument, "{}: sequence {} has no new tokens", op, s);
    const int64_t context = seq.cached_tokens + seq.new_tokens;
    const int64_t covered = int64_t(seq.block_table.size()) * block_size;
    if (covered < context)
      fail(ErrorKind::kInvalidArgument,
           "{}: sequence {} needs {} tokens of KV blocks, its table covers {}", op, s, context,
           covered);
    const int64_t used = (context + block_size - 1) / block_size;
    for (int64_t b = 0; b < used; ++b) {
      const int32_t block = seq.block_table[size_t(b)];
      if (block < 0 || block >= num_blocks)
        fail(ErrorKind::kInvalidArgument, "{}: sequence {} names block {}, the pool has {}", op, s,
             block, num_blocks);
    }
    batch.total_tokens += seq.new_tokens;
    if (batch.total_tokens > INT32_MAX)
      fail(ErrorKind::kInvalidArgument, "{}: over 2^31 new tokens in one step", op);
    batch.max_blocks = std::max(batch.max_blocks, used);
    batch.max_new_tokens = std::max(batch.max_new_tokens, seq.new_tokens);
    batch.max_context = std::max(batch.max_context, context);
    if (seq.new_tokens == 1) ++batch.decode_sequences;
  }

  PagedBatch::Host& h = batch.host;
  h.query_start.reserve(seqs.size() + 1);
  h.context_lens.reserve(seqs.size());
  h.block_tables.assign(seqs.size() * size_t(batch.max_blocks), 0);
  h.slots.reserve(size_t(batch.total_tokens));
  h.query_start.push_back(0);
  for (size_t s = 0; s < seqs.size(); ++s) {
    const PagedSequence& seq = seqs[s];
    const int64_t context = seq.cached_tokens + seq.new_tokens;
    const int64_t used = (context + block_size - 1) / block_size;
    h.query_start.push_back(int32_t(h.query_start.back() + seq.new_tokens));
    h.context_lens.push_back(int32_t(context));
    std::copy_n(seq.block_table.begin(), used,
                h.block_tables.begin() + int64_t(s) * batch.max_blocks);
    for (int64_t p = seq.cached_tokens; p < context; ++p)
      h.slots.push_back(
          int32_t(int64_t(seq.block_table[size_t(p / block_size)]) * block_size + p % block_size));
    if (seq.new_tokens == 1) h.decode_seqs.push_back(int32_t(s));
  }

  // One allocation and one copy for the five arrays, each starting on a 16-byte boundary.
  const std::vector<int32_t>* parts[] = {&h.query_start, &h.context_lens, &h.block_tables,
                                         &h.slots, &h.decode_seqs};
  std::vector<int32_t> packed;
  std::vector<size_t> offsets;
  for (const auto* part : parts) {
    offsets.push_back(packed.size());
    packed.insert(packed.end(), part->begin(), part->end());
    packed.resize((packed.size() + 3) / 4 * 4, 0);
  }
  Tensor all;
  if (device == Device::kCUDA) {
#if GLIMPSE_WITH_CUDA
    all = cuda::upload(packed);
#else
    fail_no_cuda(op);
#endif
  } else {
    all = Tensor::empty({int64_t(packed.size())}, DType::kI32);
    if (!packed.empty()) std::memcpy(all.raw_data(), packed.data(), packed.size() * sizeof(int32_t));
  }
  auto slice = [&](size_t i) {
    return all.slice_rows(int64_t(offsets[i]), int64_t(offsets[i] + parts[i]->size()));
  };
  batch.query_start = slice(0);
  batch.context_lens = slice(1);
  batch.block_tables = slice(2).view({batch.sequences, batch.max_blocks});
  batch.slots = slice(3);
  batch.decode_seqs = slice(4);
  return batch;
}

PagedShape check_paged_pools(const Tensor& k_pool, const Tensor& v_pool, const PagedBatch& batch,
                             const char* op) {
  check_f32(k_pool, op, "k_pool");
  check_f32(v_pool, op, "v_pool");
  if (k_pool.dim() != 4 || k_pool.shape() != v_pool.shape() || k_pool.size(0) != batch.num_blocks ||
      k_pool.size(1) != batch.block_size || k_pool.size(2) == 0 || k_pool.size(3) == 0)
    fail(ErrorKind::kInvalidArgument,
         "{}: the pools {} and {} must both be [{}, {}, kv_heads, d], the batch's pool", op,
         shape_string(k_pool.shape()), shape_string(v_pool.shape()), batch.num_blocks,
         batch.block_size);
  for (const Tensor* t : {&k_pool, &v_pool})
    if (t->device() != batch.device)
      fail(ErrorKind::kInvalidArgument, "{}: the pools are on the {}, the batch on the {}", op,
           device_name(t->device()), device_name(batch.device));
  return {0, k_pool.size(2), k_pool.size(3)};
}

PagedShape check_store_kv(const Tensor& k_pool, const Tensor& v_pool, const Tensor& k,
                          const Tensor& v, const PagedBatch& batch) {
  const char* op = "store_kv";
  const PagedShape shape = check_paged_pools(k_pool, v_pool, batch, op);
  check_f32(k, op, "k");
  check_f32(v, op, "v");
  const int64_t row = shape.kv_heads * shape.head_dim;
  auto fits = [&](const Tensor& t) {
    return t.dim() >= 1 && t.size(0) == batch.total_tokens &&
           ((t.dim() == 3 && t.size(1) == shape.kv_heads && t.size(2) == shape.head_dim) ||
            (t.dim() == 2 && t.size(1) == row));
  };
  if (!fits(k) || !fits(v))
    fail(ErrorKind::kInvalidArgument,
         "{}: k {} and v {} must both be [{}, {}, {}] (the step's tokens, the pool's kv_heads and "
         "d)",
         op, shape_string(k.shape()), shape_string(v.shape()), batch.total_tokens, shape.kv_heads,
         shape.head_dim);
  for (const Tensor* t : {&k, &v})
    if (t->device() != batch.device)
      fail(ErrorKind::kInvalidArgument, "{}: k and v are on the {}, the batch on the {}", op,
           device_name(t->device()), device_name(batch.device));
  return shape;
}

PagedShape check_attention_batch(const Tensor& q, const Tensor& k_pool, const Tensor& v_pool,
                                 const PagedBatch& batch) {
  const char* op = "paged_attention_batch";
  PagedShape shape = check_paged_pools(k_pool, v_pool, batch, op);
  check_f32(q, op, "q");
  if (q.dim() != 3 || q.size(0) != batch.total_tokens || q.size(2) != shape.head_dim ||
      q.size(1) == 0 || q.size(1) % shape.kv_heads != 0)
    fail(ErrorKind::kInvalidArgument,
         "{}: q {} must be [{}, heads, {}] with {} kv_heads dividing heads", op,
         shape_string(q.shape()), batch.total_tokens, shape.head_dim, shape.kv_heads);
  if (q.device() != batch.device)
    fail(ErrorKind::kInvalidArgument, "{}: q is on the {}, the batch on the {}", op,
         device_name(q.device()), device_name(batch.device));
  shape.heads = q.size(1);
  return shape;
}

}  // namespace glimpse::ops
