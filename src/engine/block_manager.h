// Ownership of the paged KV cache's blocks: allocation with reference counts, and prefix reuse —
// a full block whose content hash (the whole prefix up to and including it) was computed before
// is shared instead of recomputed. Blocks nobody holds stay cached until their space is needed
// (least recently released first).
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace glimpse::engine {

class BlockManager {
 public:
  BlockManager(int64_t num_blocks, int64_t block_size, bool prefix_caching);

  int64_t block_size() const { return block_size_; }
  int64_t total_blocks() const { return int64_t(refcount_.size()); }
  int64_t held_blocks() const { return held_; }  // referenced by at least one sequence
  int64_t available_blocks() const { return total_blocks() - held_; }  // free + evictable

  // The longest run of cached blocks matching `block_hashes` from the start; each is retained.
  std::vector<int32_t> match_prefix(std::span<const uint64_t> block_hashes);
  // `count` fresh blocks (evicting cached ones as needed), or nullopt if there are not enough.
  std::optional<std::vector<int32_t>> allocate(int64_t count);
  void release(std::span<const int32_t> blocks);
  // Makes a computed full block findable by match_prefix under `hash`.
  void publish(int32_t block, uint64_t hash);

  uint64_t prefix_hit_blocks() const { return prefix_hit_blocks_; }

 private:
  int32_t take_free_block();

  int64_t block_size_;
  bool prefix_caching_;
  std::vector<int32_t> refcount_;
  std::vector<std::optional<uint64_t>> hash_of_;  // the hash a block is published under
  std::unordered_map<uint64_t, int32_t> by_hash_;
  std::vector<int32_t> never_used_;  // blocks with no content
  std::list<int32_t> evictable_;     // released cached blocks, oldest first
  std::vector<std::list<int32_t>::iterator> evictable_pos_;
  std::vector<bool> in_evictable_;
  int64_t held_ = 0;
  uint64_t prefix_hit_blocks_ = 0;
};

// Content hashes of a prompt's full blocks, each covering the whole prefix up to the block's end.
// Image tokens all share one id, so their key mixes the image's content hash and the token's
// index within the image: two prompts with different images never share blocks.
struct ImageSpan {
  int64_t first_token = 0;  // position of the image's first <|image|> token in the prompt
  int64_t tokens = 0;
  std::string content_hash;
};
std::vector<uint64_t> prefix_block_hashes(std::span<const int32_t> ids,
                                          std::span<const ImageSpan> images, int64_t block_size);

}  // namespace glimpse::engine
