#include "model/batch.h"

namespace glimpse::model {
namespace {

int64_t head_dim_of(const TextConfig& text) {
  return text.head_dim > 0 ? text.head_dim : text.hidden_size / text.num_attention_heads;
}

}  // namespace

KvBlockPool::KvBlockPool(const ModelConfig& config, int64_t num_blocks, int64_t block_size,
                         Device device)
    : num_blocks_(num_blocks), block_size_(block_size) {
  if (num_blocks <= 0 || block_size <= 0)
    fail(ErrorKind::kInvalidArgument, "KV pool needs blocks: got {} blocks of {} tokens",
         num_blocks, block_size);
  const Shape shape{num_blocks, block_size, config.text.num_key_value_heads,
                    head_dim_of(config.text)};
  for (int64_t layer = 0; layer < config.text.num_hidden_layers; ++layer) {
    keys_.push_back(Tensor::empty(shape, DType::kF32, device));
    values_.push_back(Tensor::empty(shape, DType::kF32, device));
  }
  use_decode_graphs(decode_graphs_wanted());
}

void KvBlockPool::use_decode_graphs(bool on) {
  graphs_ = std::make_shared<DecodeGraphs>(on && !keys_.empty() && device() == Device::kCUDA);
}

size_t KvBlockPool::bytes_per_token(const ModelConfig& config) {
  return 2 * size_t(config.text.num_hidden_layers) * size_t(config.text.num_key_value_heads) *
         size_t(head_dim_of(config.text)) * sizeof(float);
}

size_t KvBlockPool::bytes() const {
  size_t total = 0;
  for (size_t i = 0; i < keys_.size(); ++i) total += keys_[i].nbytes() + values_[i].nbytes();
  return total;
}

}  // namespace glimpse::model
