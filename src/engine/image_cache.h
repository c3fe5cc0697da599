// Image embeddings (vision tower + merger output) by the image's content hash, so the same image
// sent again skips the vision tower. Bounded by bytes; least recently used entries go first.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/tensor.h"

namespace glimpse::engine {

class ImageEmbeddingCache {
 public:
  explicit ImageEmbeddingCache(size_t max_bytes) : max_bytes_(max_bytes) {}

  std::optional<Tensor> find(const std::string& content_hash);  // counts a hit or a miss
  void insert(const std::string& content_hash, Tensor embeddings);
  // An image found among those being encoded in the same step: reused, so counted as a hit.
  void count_shared_hit() { ++hits_; }

  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }
  size_t bytes() const { return bytes_; }

 private:
  struct Entry {
    Tensor embeddings;
    std::list<std::string>::iterator lru;
  };
  size_t max_bytes_;
  size_t bytes_ = 0;
  std::list<std::string> lru_;  // most recent first
  std::unordered_map<std::string, Entry> entries_;
  uint64_t hits_ = 0, misses_ = 0;
};

}  // namespace glimpse::engine
