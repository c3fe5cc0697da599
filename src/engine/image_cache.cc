#include "engine/image_cache.h"

namespace glimpse::engine {

std::optional<Tensor> ImageEmbeddingCache::find(const std::string& content_hash) {
  auto it = entries_.find(content_hash);
  if (it == entries_.end()) {
    ++misses_;
    return std::nullopt;
  }
  ++hits_;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.embeddings;
}

void ImageEmbeddingCache::insert(const std::string& content_hash, Tensor embeddings) {
  if (max_bytes_ == 0 || embeddings.nbytes() > max_bytes_ || entries_.count(content_hash)) return;
  while (bytes_ + embeddings.nbytes() > max_bytes_) {
    auto victim = entries_.find(lru_.back());
    bytes_ -= victim->second.embeddings.nbytes();
    entries_.erase(victim);
    lru_.pop_back();
  }
  lru_.push_front(content_hash);
  bytes_ += embeddings.nbytes();
  entries_.emplace(content_hash, Entry{std::move(embeddings), lru_.begin()});
}

}  // namespace glimpse::engine
