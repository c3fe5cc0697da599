// Byte-level BPE, the `model` of tokenizer.json (HF models::bpe): a pre-tokenized word arrives as
// raw bytes, each byte starts as the vocab id of its byte-level character, and adjacent pairs merge
// lowest rank first (leftmost among equal ranks) until no listed merge applies.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace glimpse::io {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringIdMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

struct BpeMerge {
  int32_t left;
  int32_t right;
  int32_t merged;
};

struct BpeVocabulary {
  std::array<int32_t, 256> byte_ids;  // id of the token for one byte, or -1 when absent
  std::vector<BpeMerge> merges;       // in rank order; a later duplicate pair overrides
  StringIdMap words;                  // raw bytes -> id of every vocab token (for ignore_merges)
  std::optional<int32_t> unk_id;      // emitted for a byte without a token; else it is dropped
  bool fuse_unk = false;              // consecutive unknown bytes give one unk
  bool ignore_merges = false;         // a word that is itself a token is emitted whole
};

class BytePairEncoder {
 public:
  explicit BytePairEncoder(BpeVocabulary vocabulary);

  // Appends the ids of one word (raw bytes, non-empty). Thread-safe.
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

 private:
  struct MergeResult {
    int32_t rank;
    int32_t merged;
  };
  void merge_word(std::string_view word, std::vector<int32_t>& out) const;
  const MergeResult* find_merge(int32_t left, int32_t right) const;

  BpeVocabulary vocabulary_;
  std::unordered_map<uint64_t, MergeResult> merges_;

  // Words already encoded, so common words cost one lookup. Ids live in one arena; entries stop
  // being added once the cache is full (HF's BPE cache does the same).
  struct CachedIds {
    uint32_t offset;
    uint32_t count;
  };
  mutable std::shared_mutex cache_mutex_;
  mutable std::unordered_map<std::string, CachedIds, StringHash, std::equal_to<>> cache_;
  mutable std::vector<int32_t> cache_ids_;
};

}  // namespace glimpse::io
