// Batched, paged decoding for serving: many sequences share one pool of fixed-size KV blocks
// (paged KV cache with a block table per sequence), and one step runs prefill chunks and decode
// tokens of several sequences together. Linear layers see all the step's tokens at once (one GEMM
// with M = tokens in the step); attention reads each sequence's own blocks (ops/paged_attention.h).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "model/config.h"
#include "model/decode_graphs.h"

namespace glimpse::model {

class Glm4vModel;

// K and V of every layer in blocks of `block_size` tokens: per layer f32
// [num_blocks, block_size, kv_heads, head_dim], on `device`. Block ids are handed out and returned
// by the scheduler (engine/); the pool only stores.
class KvBlockPool {
 public:
  KvBlockPool(const ModelConfig& config, int64_t num_blocks, int64_t block_size,
              Device device = Device::kCPU);

  int64_t num_blocks() const { return num_blocks_; }
  int64_t block_size() const { return block_size_; }
  int64_t layers() const { return int64_t(keys_.size()); }
  Device device() const { return keys_.front().device(); }
  size_t bytes() const;  // device/host memory the pool holds
  static size_t bytes_per_token(const ModelConfig& config);

  // One layer's blocks: f32 [num_blocks, block_size, kv_heads, head_dim].
  const Tensor& keys(int64_t layer) const { return keys_[size_t(layer)]; }
  const Tensor& values(int64_t layer) const { return values_[size_t(layer)]; }

  // Decode steps over this pool replay as CUDA graphs (model/decode_graphs.h) when the pool is on
  // the GPU and decode_graphs_wanted(); use_decode_graphs(false) runs every step eagerly.
  DecodeGraphs& decode_graphs() { return *graphs_; }
  void use_decode_graphs(bool on);

 private:
  int64_t num_blocks_ = 0, block_size_ = 0;
  std::vector<Tensor> keys_, values_;
  std::shared_ptr<DecodeGraphs> graphs_;  // captured steps hold the pool's addresses
};

// One sequence's share of a step: `ids` are the next tokens to run (a prefill chunk, or one decode
// token), at `positions` (int64 [3, ids.size()]). The sequence already holds `cached_tokens` in its
// blocks; `block_table` covers cached_tokens + ids.size() tokens.
struct SequenceChunk {
  std::span<const int32_t> ids;
  Tensor positions;
  std::span<const int32_t> block_table;
  int64_t cached_tokens = 0;
  // The request's image embeddings (f32 [image tokens, hidden]) and how many of its image tokens
  // came before this chunk, so the chunk's image tokens take the right rows. nullptr: no images.
  const Tensor* image_embeds = nullptr;
  int64_t image_rows_before = 0;
  bool want_logits = false;  // logits of the chunk's last token (end of prompt, or a decode step)
};

// Runs one step over every chunk, writing their keys/values into `pool` (on the model's device).
// Returns f32 logits [number of chunks with want_logits, vocab] on the host, in chunk order.
Tensor forward_batch(const Glm4vModel& model, std::span<const SequenceChunk> chunks,
                     KvBlockPool& pool);
// The same step with the logits left on the model's device, for callers that download only what
// sampling needs (e.g. one argmax per greedy sequence).
Tensor forward_batch_on_device(const Glm4vModel& model, std::span<const SequenceChunk> chunks,
                               KvBlockPool& pool);

}  // namespace glimpse::model
