// forward_batch (model/batch.h): one decoder pass over the tokens of several sequences. Every
// projection sees all the step's tokens at once; per layer, one store writes the step's keys and
// values into the pool and one paged attention reads each sequence's own blocks. The step's block
// tables and slots are uploaded once and shared by every layer. Steps of decode tokens alone
// replay as CUDA graphs on the GPU (decode_graphs.h).
#include <cstring>

#include "core/device_copy.h"
#include "model/batch.h"
#include "model/glm4v_impl.h"
#include "ops/paged_attention.h"

namespace glimpse::model {
namespace {

void check_chunk(const SequenceChunk& chunk, size_t index) {
  const auto n = int64_t(chunk.ids.size());
  if (n == 0) fail(ErrorKind::kInvalidArgument, "forward_batch: chunk {} has no tokens", index);
  if (chunk.positions.dtype() != DType::kI64 || chunk.positions.dim() != 2 ||
      chunk.positions.size(0) != 3 || chunk.positions.size(1) != n)
    fail(ErrorKind::kInvalidArgument,
         "forward_batch: chunk {} positions must be I64 [3, {}], got {}", index, n,
         shape_string(chunk.positions.shape()));
}

}  // namespace

Tensor forward_batch(const Glm4vModel& model, std::span<const SequenceChunk> chunks,
                     KvBlockPool& pool) {
  return to_device(forward_batch_on_device(model, chunks, pool), Device::kCPU);
}

Tensor forward_batch_on_device(const Glm4vModel& model, std::span<const SequenceChunk> chunks,
                               KvBlockPool& pool) {
  const Glm4vModel::Impl& impl = model.impl();
  const TextConfig& config = impl.config.text;
  if (chunks.empty()) fail(ErrorKind::kInvalidArgument, "forward_batch: no chunks given");
  if (pool.layers() != config.num_hidden_layers)
    fail(ErrorKind::kInvalidArgument, "forward_batch: the KV pool has {} layers, the model {}",
         pool.layers(), config.num_hidden_layers);
  if (pool.device() != model.device())
    fail(ErrorKind::kInvalidArgument, "forward_batch: the KV pool is on the {}, the model on the {}",
         device_name(pool.device()), device_name(model.device()));

  if (Tensor logits = pool.decode_graphs().run(model, chunks, pool); logits.defined())
    return logits;

  // All chunks' tokens in one [total, hidden] batch; first[c] is chunk c's first row.
  std::vector<int64_t> first;
  std::vector<int32_t> ids;
  std::vector<ops::PagedSequence> sequences;
  for (size_t c = 0; c < chunks.size(); ++c) {
    check_chunk(chunks[c], c);
    first.push_back(int64_t(ids.size()));
    ids.insert(ids.end(), chunks[c].ids.begin(), chunks[c].ids.end());
    sequences.push_back(
        {chunks[c].block_table, chunks[c].cached_tokens, int64_t(chunks[c].ids.size())});
  }
  const auto total = int64_t(ids.size());
  first.push_back(total);
  // Validates every table against the pool (naming the chunk) before anything runs.
  const ops::PagedBatch batch =
      ops::make_paged_batch(sequences, pool.num_blocks(), pool.block_size(), model.device());

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

  const TextDecoder::AttendFn attend = [&](int64_t layer, const Tensor& q, const Tensor& k,
                                           const Tensor& v) {
    Tensor keys = pool.keys(layer), values = pool.values(layer);
    ops::store_kv(keys, values, k, v, batch);
    return ops::paged_attention_batch(q, keys, values, batch, impl.text.attention_scale());
  };
  const Tensor last_hidden = impl.text.run_layers(std::move(hidden), positions, attend);

  // The last token of each chunk that wants logits, in chunk order.
  std::vector<int64_t> rows;
  for (size_t c = 0; c < chunks.size(); ++c)
    if (chunks[c].want_logits) rows.push_back(first[c + 1] - 1);
  if (rows.empty()) return Tensor::empty({0, config.vocab_size}, DType::kF32, model.device());
  Tensor selected =
      Tensor::empty({int64_t(rows.size()), last_hidden.size(1)}, DType::kF32, model.device());
  for (size_t r = 0; r < rows.size(); ++r)
    copy_into(selected.row(int64_t(r)), last_hidden.row(rows[r]));
  return impl.text.logits(selected);
}

}  // namespace glimpse::model
