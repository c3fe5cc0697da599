// forward_batch (model/batch.h): one decoder pass over the tokens of several sequences. Every
// projection sees all the step's tokens at once; attention runs per sequence, over keys and values
// gathered from its blocks of the shared pool.
#include <cstring>

#include "model/batch.h"
#include "model/glm4v_impl.h"
#include "ops/attention.h"

namespace glimpse::model {
namespace {

void check_chunk(const SequenceChunk& chunk, size_t index, const KvBlockPool& pool) {
  const auto n = int64_t(chunk.ids.size());
  if (n == 0) fail(ErrorKind::kInvalidArgument, "forward_batch: chunk {} has no tokens", index);
  if (chunk.positions.dtype() != DType::kI64 || chunk.positions.dim() != 2 ||
      chunk.positions.size(0) != 3 || chunk.positions.size(1) != n)
    fail(ErrorKind::kInvalidArgument,
         "forward_batch: chunk {} positions must be I64 [3, {}], got {}", index, n,
         shape_string(chunk.positions.shape()));
  const int64_t needed = chunk.cached_tokens + n;
  if (chunk.cached_tokens < 0 || int64_t(chunk.block_table.size()) * pool.block_size() < needed)
    fail(ErrorKind::kInvalidArgument,
         "forward_batch: chunk {} needs {} tokens of KV blocks, its table covers {}", index, needed,
         int64_t(chunk.block_table.size()) * pool.block_size());
  for (int32_t block : chunk.block_table)
    if (block < 0 || block >= pool.num_blocks())
      fail(ErrorKind::kInvalidArgument, "forward_batch: chunk {} names block {}, the pool has {}",
           index, block, pool.num_blocks());
}

// Token `position` of a sequence lives in row `position % block_size` of block
// block_table[position / block_size]; each row is `width` floats.
float* pool_row(const Tensor& blocks, std::span<const int32_t> block_table, int64_t block_size,
                int64_t position, int64_t width) {
  const int64_t block = block_table[size_t(position / block_size)];
  return blocks.data<float>() + (block * block_size + position % block_size) * width;
}

}  // namespace

Tensor forward_batch(const Glm4vModel& model, std::span<const SequenceChunk> chunks,
                     KvBlockPool& pool) {
  const Glm4vModel::Impl& impl = model.impl();
  const TextConfig& config = impl.config.text;
  if (chunks.empty()) fail(ErrorKind::kInvalidArgument, "forward_batch: no chunks given");
  if (pool.layers() != config.num_hidden_layers)
    fail(ErrorKind::kInvalidArgument, "forward_batch: the KV pool has {} layers, the model {}",
         pool.layers(), config.num_hidden_layers);

  // All chunks' tokens in one [total, hidden] batch; first[c] is chunk c's first row.
  std::vector<int64_t> first;
  std::vector<int32_t> ids;
  for (size_t c = 0; c < chunks.size(); ++c) {
    check_chunk(chunks[c], c, pool);
    first.push_back(int64_t(ids.size()));
    ids.insert(ids.end(), chunks[c].ids.begin(), chunks[c].ids.end());
  }
  const auto total = int64_t(ids.size());
  first.push_back(total);
  Tensor hidden = impl.text.embed(ids);
  Tensor positions = Tensor::empty({3, total}, DType::kI64);
  for (size_t c = 0; c < chunks.size(); ++c) {
    const int64_t n = first[c + 1] - first[c];
    Tensor rows = hidden.slice_rows(first[c], first[c + 1]);
    splice_image_rows(rows, chunks[c].ids, impl.config.image_token_id, chunks[c].image_embeds,
                      chunks[c].image_rows_before);
    for (int64_t axis = 0; axis < 3; ++axis)
      std::memcpy(positions.data<int64_t>() + axis * total + first[c],
                  chunks[c].positions.data<int64_t>() + axis * n, size_t(n) * sizeof(int64_t));
  }

  const int64_t kv_heads = config.num_key_value_heads, head_dim = impl.text.head_dim();
  const int64_t width = kv_heads * head_dim, block_size = pool.block_size();
  const TextDecoder::AttendFn attend = [&](int64_t layer, const Tensor& q, const Tensor& k,
                                           const Tensor& v) {
    Tensor out = Tensor::empty({total, q.size(1) * head_dim}, DType::kF32);
    for (size_t c = 0; c < chunks.size(); ++c) {
      const SequenceChunk& chunk = chunks[c];
      const int64_t n = first[c + 1] - first[c], past = chunk.cached_tokens;
      // Store the chunk's keys/values in its blocks, then gather the sequence's [past + n] rows.
      for (int64_t i = 0; i < n; ++i) {
        const size_t bytes = size_t(width) * sizeof(float);
        std::memcpy(pool_row(pool.keys(layer), chunk.block_table, block_size, past + i, width),
                    k.data<float>() + (first[c] + i) * width, bytes);
        std::memcpy(pool_row(pool.values(layer), chunk.block_table, block_size, past + i, width),
                    v.data<float>() + (first[c] + i) * width, bytes);
      }
      Tensor keys = Tensor::empty({past + n, kv_heads, head_dim}, DType::kF32);
      Tensor values = Tensor::empty({past + n, kv_heads, head_dim}, DType::kF32);
      for (int64_t start = 0; start < past + n; start += block_size) {
        const size_t bytes = size_t(std::min(block_size, past + n - start) * width) * sizeof(float);
        std::memcpy(keys.data<float>() + start * width,
                    pool_row(pool.keys(layer), chunk.block_table, block_size, start, width), bytes);
        std::memcpy(values.data<float>() + start * width,
                    pool_row(pool.values(layer), chunk.block_table, block_size, start, width),
                    bytes);
      }
      const Tensor attended = ops::causal_attention(q.slice_rows(first[c], first[c + 1]), keys,
                                                    values, past, impl.text.attention_scale());
      std::memcpy(out.slice_rows(first[c], first[c + 1]).raw_data(), attended.raw_data(),
                  attended.nbytes());
    }
    return out;
  };
  const Tensor last_hidden = impl.text.run_layers(std::move(hidden), positions, attend);

  // The last token of each chunk that wants logits, in chunk order.
  std::vector<int64_t> rows;
  for (size_t c = 0; c < chunks.size(); ++c)
    if (chunks[c].want_logits) rows.push_back(first[c + 1] - 1);
  Tensor selected = Tensor::empty({int64_t(rows.size()), last_hidden.size(1)}, DType::kF32);
  for (size_t r = 0; r < rows.size(); ++r)
    std::memcpy(selected.row(int64_t(r)).raw_data(), last_hidden.row(rows[r]).raw_data(),
                size_t(last_hidden.size(1)) * sizeof(float));
  if (rows.empty()) return Tensor::empty({0, config.vocab_size}, DType::kF32);
  return impl.text.logits(selected);
}

}  // namespace glimpse::model
