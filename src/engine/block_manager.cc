#include "engine/block_manager.h"

#include <functional>

#include "core/error.h"

namespace glimpse::engine {
namespace {

// splitmix64's finaliser: a cheap, well-mixed combination step for chained hashes.
uint64_t mix(uint64_t h, uint64_t v) {
  uint64_t z = h ^ (v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

BlockManager::BlockManager(int64_t num_blocks, int64_t block_size, bool prefix_caching)
    : block_size_(block_size),
      prefix_caching_(prefix_caching),
      refcount_(size_t(num_blocks), 0),
      hash_of_(size_t(num_blocks)),
      evictable_pos_(size_t(num_blocks)),
      in_evictable_(size_t(num_blocks), false) {
  if (num_blocks <= 0 || block_size <= 0)
    fail(ErrorKind::kInvalidArgument, "KV cache needs blocks (got {} blocks of {} tokens)",
         num_blocks, block_size);
  for (int64_t b = num_blocks - 1; b >= 0; --b) never_used_.push_back(int32_t(b));
}

std::vector<int32_t> BlockManager::match_prefix(std::span<const uint64_t> block_hashes) {
  std::vector<int32_t> blocks;
  if (!prefix_caching_) return blocks;
  for (uint64_t hash : block_hashes) {
    auto it = by_hash_.find(hash);
    if (it == by_hash_.end()) break;
    const int32_t b = it->second;
    if (in_evictable_[size_t(b)]) {
      evictable_.erase(evictable_pos_[size_t(b)]);
      in_evictable_[size_t(b)] = false;
    }
    if (refcount_[size_t(b)]++ == 0) ++held_;
    blocks.push_back(b);
  }
  prefix_hit_blocks_ += blocks.size();
  return blocks;
}

int32_t BlockManager::take_free_block() {
  if (!never_used_.empty()) {
    const int32_t b = never_used_.back();
    never_used_.pop_back();
    return b;
  }
  const int32_t b = evictable_.front();  // the least recently released cached block
  evictable_.pop_front();
  in_evictable_[size_t(b)] = false;
  by_hash_.erase(*hash_of_[size_t(b)]);
  hash_of_[size_t(b)].reset();
  return b;
}

std::optional<std::vector<int32_t>> BlockManager::allocate(int64_t count) {
  if (count > available_blocks()) return std::nullopt;
  std::vector<int32_t> blocks;
  blocks.reserve(size_t(count));
  for (int64_t i = 0; i < count; ++i) {
    const int32_t b = take_free_block();
    refcount_[size_t(b)] = 1;
    ++held_;
    blocks.push_back(b);
  }
  return blocks;
}

void BlockManager::release(std::span<const int32_t> blocks) {
  for (int32_t b : blocks) {
    GLIMPSE_ASSERT(refcount_[size_t(b)] > 0);
    if (--refcount_[size_t(b)] > 0) continue;
    --held_;
    if (hash_of_[size_t(b)]) {
      evictable_.push_back(b);
      evictable_pos_[size_t(b)] = std::prev(evictable_.end());
      in_evictable_[size_t(b)] = true;
    } else {
      never_used_.push_back(b);
    }
  }
}

void BlockManager::publish(int32_t block, uint64_t hash) {
  if (!prefix_caching_ || hash_of_[size_t(block)] || by_hash_.count(hash)) return;
  hash_of_[size_t(block)] = hash;
  by_hash_[hash] = block;
}

std::vector<uint64_t> prefix_block_hashes(std::span<const int32_t> ids,
                                          std::span<const ImageSpan> images, int64_t block_size) {
  std::vector<uint64_t> hashes;
  uint64_t h = 0x6a09e667f3bcc908ull;
  size_t image = 0;
  for (int64_t i = 0; i + block_size <= int64_t(ids.size()); i += block_size) {
    for (int64_t p = i; p < i + block_size; ++p) {
      while (image < images.size() && p >= images[image].first_token + images[image].tokens)
        ++image;
      if (image < images.size() && p >= images[image].first_token) {
        h = mix(h, std::hash<std::string>{}(images[image].content_hash));
        h = mix(h, uint64_t(p - images[image].first_token));
      } else {
        h = mix(h, uint64_t(uint32_t(ids[size_t(p)])));
      }
    }
    hashes.push_back(h);
  }
  return hashes;
}

}  // namespace glimpse::engine
