#include "model/glm4v.h"

namespace glimpse::model {

KvCache::KvCache(int64_t layers, int64_t capacity, int64_t kv_heads, int64_t head_dim,
                 Device device)
    : capacity_(capacity) {
  if (layers <= 0 || capacity <= 0 || kv_heads <= 0 || head_dim <= 0)
    fail(ErrorKind::kInvalidArgument,
         "KvCache: layers {}, capacity {}, kv_heads {}, head_dim {} must all be positive", layers,
         capacity, kv_heads, head_dim);
  for (int64_t l = 0; l < layers; ++l) {
    keys_.push_back(Tensor::empty({capacity, kv_heads, head_dim}, DType::kF32, device));
    values_.push_back(Tensor::empty({capacity, kv_heads, head_dim}, DType::kF32, device));
  }
}

void KvCache::truncate(int64_t tokens) {
  if (tokens < 0 || tokens > size_)
    fail(ErrorKind::kInvalidArgument, "KvCache::truncate: {} tokens requested, the cache holds {}",
         tokens, size_);
  size_ = tokens;
}

Tensor KvCache::keys(int64_t layer, int64_t tokens) const {
  GLIMPSE_ASSERT(layer >= 0 && layer < layers() && tokens <= capacity_);
  return keys_[size_t(layer)].slice_rows(0, tokens);
}

Tensor KvCache::values(int64_t layer, int64_t tokens) const {
  GLIMPSE_ASSERT(layer >= 0 && layer < layers() && tokens <= capacity_);
  return values_[size_t(layer)].slice_rows(0, tokens);
}

void KvCache::advance(int64_t tokens) {
  if (tokens < 0 || size_ + tokens > capacity_)
    fail(ErrorKind::kLimitExceeded, "KvCache: {} more tokens do not fit ({} held, capacity {})",
         tokens, size_, capacity_);
  size_ += tokens;
}

}  // namespace glimpse::model
